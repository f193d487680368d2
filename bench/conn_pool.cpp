// conn_pool.cpp — see conn_pool.hpp. Single-threaded, like its worker.
#include "bench/conn_pool.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "bench/chat_payload.hpp"
#include "bench/worker.hpp"
#include "bench/ws_codec.hpp"

namespace sb::bench {

namespace {

constexpr std::size_t max_upgrade_head = 8 * 1024;
constexpr std::size_t max_frame_payload = 16u << 20;
constexpr std::size_t max_pending_out = 4u << 20;

std::uint64_t data_of(std::uint32_t idx, std::uint32_t gen) { return (std::uint64_t{gen} << 32) | idx; }

}  // namespace

conn_pool::conn_pool(const bench_options& opt, const worker_plan& plan, worker& owner)
    : opt_(opt), dialer_(opt), owner_(owner), rng_(0x9E3779B97F4A7C15ull ^ (std::uint64_t{plan.id} << 32) ^ monotonic_ns()) {
  nstatic_ = static_cast<std::uint32_t>(plan.gid_hi - plan.gid_lo);
  conns_.resize(std::size_t{nstatic_} + plan.churn_slots);
  for (std::uint32_t i = 0; i < nstatic_; ++i) {
    conns_[i].gid = plan.gid_lo + i;
    conns_[i].room = static_cast<std::uint32_t>(conns_[i].gid / plan.room_size);
  }
  for (std::uint32_t i = 0; i < plan.churn_slots; ++i) {
    conns_[nstatic_ + i].ephemeral = true;
    free_slots_.push_back(nstatic_ + plan.churn_slots - 1 - i);
  }
  rbuf_.resize(256 * 1024);
  wbuf_.resize(opt_.payload_bytes + max_chat_text + ws::max_client_header + 256);
  timeout_ns_ = static_cast<std::uint64_t>(opt_.handshake_timeout_s * 1e9);
}

conn_pool::~conn_pool() {
  for (auto& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  if (ep_ >= 0) ::close(ep_);
}

bool conn_pool::watch_control(int ctrl_fd) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = data_of(control_tag, 0);
  return epoll_ctl(ep_, EPOLL_CTL_ADD, ctrl_fd, &ev) == 0;
}

std::uint64_t conn_pool::open_static() const {
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < nstatic_; ++i) n += conns_[i].st == cstate::open;
  return n;
}

bool conn_pool::take_churn_slot(std::uint32_t& idx) {
  if (free_slots_.empty()) return false;
  idx = free_slots_.back();
  free_slots_.pop_back();
  return true;
}

std::uint32_t conn_pool::random_below(std::uint32_t n) {
  return static_cast<std::uint32_t>((rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull) >> 33) % n;
}

std::uint32_t conn_pool::next_mask() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<std::uint32_t>(rng_ >> 16);
}

std::string conn_pool::room_path(std::uint32_t room, std::uint64_t gid) const {
  // fanout --sender-path: its one room's first --senders members are the senders
  const bool sender = !opt_.sender_path.empty() && gid % opt_.members < opt_.senders;
  return (sender ? opt_.sender_path : std::string("/ws/chat/")) + opt_.room_prefix + "_" + std::to_string(room) + "/";
}

void conn_pool::scan_timeouts(std::uint64_t now) {
  for (auto& c : conns_) {
    if (c.st == cstate::free) continue;
    const bool waiting = c.st == cstate::tcp || c.st == cstate::upgrade ||
                         (c.ephemeral && (c.st == cstate::open || c.st == cstate::closing));
    if (!waiting || now - c.t0_ns < timeout_ns_) continue;
    if (c.st == cstate::tcp || c.st == cstate::upgrade) {
      fail(c, fail_kind::timeout);
    } else {
      owner_.on_churn_end(c, c.st == cstate::open ? churn_end::echo_timeout : churn_end::close_timeout);
      release(c);
    }
  }
}

// ---------------------------------------------------------------- connecting

bool conn_pool::open(std::uint32_t idx, std::uint32_t room, std::uint64_t gid) {
  conn& c = conns_[idx];
  c.room = room;
  c.gid = gid;
  c.t0_ns = monotonic_ns();
  c.slot = -1;
  c.seq = 0;
  c.awaiting_echo = false;
  c.close_sent = false;
  c.want_out = true;
  c.in.clear();
  c.out.clear();
  c.frag.reset();
  c.st = cstate::tcp;
  fail_kind why{};
  const int fd = dialer_.dial(gid, ep_, data_of(idx, c.gen), why);
  if (fd < 0) {
    fail(c, why);
    return false;
  }
  c.fd = fd;
  return true;  // EPOLLOUT reports the outcome
}

void conn_pool::on_connected(conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return fail(c, dialer::connect_failure(err));
  c.st = cstate::upgrade;
  const target& dst = dialer_.gateway_of(c.gid);
  const std::string key = ws::key_from_seed(rng_ ^ c.gid);
  // The expected accept waits in `frag` (unused before the upgrade) while the head is read into `in`.
  c.frag = std::make_unique<std::string>(ws::accept_for(key));
  const std::string req = ws::upgrade_request(dst.host_port, room_path(c.room, c.gid), key);
  c.out.clear();
  const ssize_t n = ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN) return fail(c, fail_kind::reset);
  const std::size_t sent = n < 0 ? 0 : static_cast<std::size_t>(n);
  if (sent < req.size()) c.out.assign(req, sent);
  c.want_out = !c.out.empty();
  epoll_event ev{};
  ev.events = EPOLLIN | (c.want_out ? EPOLLOUT : 0u);
  ev.data.u64 = data_of(index_of(c), c.gen);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void conn_pool::on_upgrade_data(conn& c) {
  const std::string expected = c.frag ? *c.frag : std::string{};
  const auto a = ws::parse_upgrade_answer(c.in, expected);
  using k = ws::upgrade_answer::kind;
  switch (a.what) {
    case k::incomplete:
      if (c.in.size() > max_upgrade_head) fail(c, fail_kind::malformed);
      return;
    case k::bad_status:
      return fail(c, a.status == 503 ? fail_kind::http_503 : fail_kind::http_other);
    case k::bad_accept:
      return fail(c, fail_kind::bad_accept);
    case k::malformed:
      return fail(c, fail_kind::malformed);
    case k::ok:
      break;
  }
  c.frag.reset();
  std::string rest = c.in.substr(a.header_bytes);
  c.in.clear();
  c.st = cstate::open;
  owner_.on_open(c);
  if (c.st == cstate::free || rest.empty()) return;
  if (process_frames(c, rest) && c.st != cstate::free) c.in.swap(rest);
}

// ---------------------------------------------------------------- receiving

void conn_pool::on_event(std::uint32_t idx, std::uint32_t events) {
  conn& c = conns_[idx];
  if (c.st == cstate::tcp) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
    return;
  }
  if ((events & EPOLLOUT) && !flush(c)) return;
  if (c.st == cstate::free) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    const ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      if (c.st == cstate::upgrade) return fail(c, fail_kind::reset);
      return end_conn(c, c.st == cstate::closing);
    }
    c.in.append(rbuf_.data(), static_cast<std::size_t>(n));
    if (c.st == cstate::upgrade) return on_upgrade_data(c);
    std::string buf;
    buf.swap(c.in);
    if (process_frames(c, buf) && c.st != cstate::free) c.in.swap(buf);
  }
}

bool conn_pool::process_frames(conn& c, std::string& buf) {
  std::size_t off = 0;
  while (off < buf.size()) {
    ws::server_frame f;
    std::size_t used = 0;
    const auto st = ws::decode_server_frame(std::string_view(buf).substr(off), max_frame_payload, f, used);
    if (st == ws::decode_status::incomplete) break;
    if (st == ws::decode_status::protocol_error) {
      protocol_error(c);
      return false;
    }
    off += used;
    if (!on_frame(c, f.fin ? static_cast<std::uint8_t>(f.opcode | 0x80) : f.opcode, f.payload)) return false;
    if (c.st == cstate::free) return false;
  }
  buf.erase(0, off);
  return true;
}

bool conn_pool::on_frame(conn& c, std::uint8_t op_fin, std::string_view payload) {
  const bool fin = op_fin & 0x80;
  const std::uint8_t op = op_fin & 0x0F;
  switch (op) {
    case ws::op_text:
      if (fin) {
        owner_.on_text(c, payload);
      } else {
        c.frag = std::make_unique<std::string>(payload);
      }
      return c.st != cstate::free;
    case ws::op_continuation:
      if (!c.frag) {
        protocol_error(c);
        return false;
      }
      c.frag->append(payload);
      if (c.frag->size() > max_frame_payload) {
        protocol_error(c);
        return false;
      }
      if (fin) {
        const std::string whole = std::move(*c.frag);
        c.frag.reset();
        owner_.on_text(c, whole);
      }
      return c.st != cstate::free;
    case ws::op_binary:
      owner_.on_binary();
      return true;
    case ws::op_ping:
      return send_frame(c, ws::op_pong, payload);
    case ws::op_pong:
      return true;
    case ws::op_close:
      if (!c.close_sent) {
        // The server is closing us (slow consumer, rate limit...): answer and go.
        if (c.ephemeral) owner_.on_churn_end(c, churn_end::closed_early);
        else ++closed_by_server_;
        c.close_sent = true;
        send_frame(c, ws::op_close, payload.substr(0, std::min<std::size_t>(payload.size(), 2)));
        release(c);
        return false;
      }
      c.st = cstate::closing;  // our close was answered; wait for the server's FIN
      return true;
    default:
      protocol_error(c);
      return false;
  }
}

// ---------------------------------------------------------------- sending

bool conn_pool::send_chat(conn& c, std::uint32_t step, std::uint32_t slot) {
  chat_payload p;
  p.step = step;
  p.slot = slot;
  p.seq = c.seq++;
  p.sender = c.gid;
  p.sent_ns = monotonic_ns();
  char text[max_chat_text + 64];
  if (opt_.payload_bytes == 0) {
    const std::size_t n = encode_chat_text(p, 0, text, sizeof text);
    return send_frame(c, ws::op_text, std::string_view(text, n));
  }
  std::string big(opt_.payload_bytes + max_chat_text, '\0');
  const std::size_t n = encode_chat_text(p, opt_.payload_bytes, big.data(), big.size());
  return send_frame(c, ws::op_text, std::string_view(big.data(), n));
}

void conn_pool::start_close(conn& c) {
  c.close_sent = true;
  c.st = cstate::closing;
  send_frame(c, ws::op_close, std::string_view("\x03\xe8", 2));
}

bool conn_pool::send_frame(conn& c, std::uint8_t opcode, std::string_view payload) {
  const std::size_t need = payload.size() + ws::max_client_header;
  if (wbuf_.size() < need) wbuf_.resize(need);
  const std::size_t n = ws::encode_client_frame(opcode, payload, next_mask(), wbuf_.data());
  if (!c.out.empty()) {
    if (c.out.size() + n > max_pending_out) {
      end_conn(c, false);
      return false;
    }
    c.out.append(wbuf_.data(), n);
    return true;
  }
  const ssize_t w = ::send(c.fd, wbuf_.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno != EAGAIN && errno != EINTR) {
    end_conn(c, false);
    return false;
  }
  const std::size_t done = w < 0 ? 0 : static_cast<std::size_t>(w);
  if (done < n) {
    c.out.assign(wbuf_.data() + done, n - done);
    set_out_interest(c, true);
  }
  return true;
}

bool conn_pool::flush(conn& c) {
  while (!c.out.empty()) {
    const ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      if (c.st == cstate::upgrade) fail(c, fail_kind::reset);
      else end_conn(c, false);
      return false;
    }
    c.out.erase(0, static_cast<std::size_t>(w));
  }
  set_out_interest(c, false);
  return true;
}

void conn_pool::set_out_interest(conn& c, bool want) {
  if (c.want_out == want || c.fd < 0) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u64 = data_of(index_of(c), c.gen);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

// ---------------------------------------------------------------- ending

void conn_pool::fail(conn& c, fail_kind why) {
  owner_.on_failed(c, why);
  release(c);
}

void conn_pool::protocol_error(conn& c) {
  ++protocol_errors_;
  end_conn(c, false);
}

void conn_pool::end_conn(conn& c, bool clean) {
  if (c.ephemeral) owner_.on_churn_end(c, clean && c.close_sent ? churn_end::completed : churn_end::closed_early);
  else if (!clean) ++closed_by_server_;
  release(c);
}

void conn_pool::release(conn& c) {
  if (c.st == cstate::free) return;
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.st = cstate::free;
  ++c.gen;
  c.in = std::string{};
  c.out = std::string{};
  c.frag.reset();
  c.slot = -1;
  if (c.ephemeral) free_slots_.push_back(index_of(c));
}

void conn_pool::release_all() {
  for (auto& c : conns_)
    if (c.st != cstate::free) release(c);
}

}  // namespace sb::bench
