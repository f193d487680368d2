// ipc.cpp — see ipc.hpp.
#include "bench/ipc.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

namespace sb::bench {

namespace {

constexpr std::uint32_t max_body = 64u << 20;

class writer {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  template <class T>
  void put_vector(const std::vector<T>& v) {
    put<std::uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  void put_histogram(const histogram& h) {
    put(h.count());
    put(h.raw_min());
    put(h.max());
    put(h.raw_sum());
    std::uint32_t used = 0;
    for (auto b : h.buckets()) used += b != 0;
    put(used);
    for (std::uint32_t i = 0; i < histogram::bucket_count; ++i)
      if (h.buckets()[i]) {
        put(i);
        put(h.buckets()[i]);
      }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  template <class T>
  bool get(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof v) return false;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return true;
  }
  template <class T>
  bool get_vector(std::vector<T>& v) {
    std::uint64_t n = 0;
    if (!get(n) || n > in_.size() / sizeof(T)) return false;
    v.resize(n);
    std::memcpy(v.data(), in_.data(), n * sizeof(T));
    in_.remove_prefix(n * sizeof(T));
    return true;
  }
  bool get_histogram(histogram& h) {
    h.clear();
    std::uint32_t used = 0;
    if (!get(h.raw_count()) || !get(h.raw_min()) || !get(h.raw_max()) || !get(h.raw_sum()) || !get(used)) return false;
    if (used > histogram::bucket_count) return false;
    for (std::uint32_t k = 0; k < used; ++k) {
      std::uint32_t i = 0;
      std::uint64_t c = 0;
      if (!get(i) || !get(c) || i >= histogram::bucket_count) return false;
      h.buckets()[i] = c;
    }
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

void failure_counts::add(const failure_counts& o) {
  socket_error += o.socket_error;
  addr_unavailable += o.addr_unavailable;
  refused += o.refused;
  connect_error += o.connect_error;
  http_503 += o.http_503;
  http_other += o.http_other;
  bad_accept += o.bad_accept;
  malformed += o.malformed;
  reset += o.reset;
  timeout += o.timeout;
}

void failure_counts::count(fail_kind why) {
  switch (why) {
    case fail_kind::socket_error: ++socket_error; break;
    case fail_kind::addr_unavailable: ++addr_unavailable; break;
    case fail_kind::refused: ++refused; break;
    case fail_kind::connect_error: ++connect_error; break;
    case fail_kind::http_503: ++http_503; break;
    case fail_kind::http_other: ++http_other; break;
    case fail_kind::bad_accept: ++bad_accept; break;
    case fail_kind::malformed: ++malformed; break;
    case fail_kind::reset: ++reset; break;
    case fail_kind::timeout: ++timeout; break;
  }
}

template <class T>
bool decode_pod(std::string_view body, T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (body.size() != sizeof v) return false;
  std::memcpy(&v, body.data(), sizeof v);
  return true;
}
template bool decode_pod(std::string_view, cmd_connect_body&);
template bool decode_pod(std::string_view, cmd_load_body&);
template bool decode_pod(std::string_view, cmd_churn_body&);
template bool decode_pod(std::string_view, status_report&);

std::string encode(const connect_report& r) {
  writer w;
  w.put(r.attempted);
  w.put(r.opened);
  w.put(r.failed);
  w.put(r.done_ns);
  w.put(r.cpu_us);
  w.put_histogram(r.handshake_ns);
  return w.take();
}

bool decode(std::string_view body, connect_report& r) {
  reader rd(body);
  return rd.get(r.attempted) && rd.get(r.opened) && rd.get(r.failed) && rd.get(r.done_ns) && rd.get(r.cpu_us) &&
         rd.get_histogram(r.handshake_ns) && rd.done();
}

std::string encode(const load_report& r) {
  writer w;
  w.put(r.c);
  w.put_histogram(r.latency_ns);
  w.put(r.room_lo);
  w.put_vector(r.open_per_room);
  w.put_vector(r.sent_per_room);
  return w.take();
}

bool decode(std::string_view body, load_report& r) {
  reader rd(body);
  return rd.get(r.c) && rd.get_histogram(r.latency_ns) && rd.get(r.room_lo) && rd.get_vector(r.open_per_room) &&
         rd.get_vector(r.sent_per_room) && r.open_per_room.size() == r.sent_per_room.size() && rd.done();
}

std::string encode(const churn_report& r) {
  writer w;
  w.put(r.c);
  w.put_histogram(r.cycle_ns);
  w.put_histogram(r.handshake_ns);
  return w.take();
}

bool decode(std::string_view body, churn_report& r) {
  reader rd(body);
  return rd.get(r.c) && rd.get_histogram(r.cycle_ns) && rd.get_histogram(r.handshake_ns) && rd.done();
}

bool send_message(int fd, msg_type type, std::string_view body) {
  if (body.size() > max_body) return false;
  std::string m(8, '\0');
  const auto t = static_cast<std::uint32_t>(type);
  const auto n = static_cast<std::uint32_t>(body.size());
  std::memcpy(m.data(), &t, 4);
  std::memcpy(m.data() + 4, &n, 4);
  m.append(body);
  return write_all(fd, m.data(), m.size());
}

bool recv_message(int fd, msg_type& type, std::string& body) {
  char head[8];
  if (!read_all(fd, head, 8)) return false;
  std::uint32_t t = 0, n = 0;
  std::memcpy(&t, head, 4);
  std::memcpy(&n, head + 4, 4);
  if (n > max_body) return false;
  body.resize(n);
  if (n && !read_all(fd, body.data(), n)) return false;
  type = static_cast<msg_type>(t);
  return true;
}

}  // namespace sb::bench
