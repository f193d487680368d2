// worker.cpp — see worker.hpp.
#include "bench/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "bench/chat_payload.hpp"
#include "bench/ws_codec.hpp"

namespace sb::bench {

namespace {

constexpr std::uint32_t control_tag = 0xFFFFFFFFu;
constexpr std::size_t max_upgrade_head = 8 * 1024;
constexpr std::size_t max_frame_payload = 16u << 20;
constexpr std::size_t max_pending_out = 4u << 20;
constexpr std::size_t max_fifo_entries = 32u << 20;  // 128 MiB of FIFO state per worker
constexpr std::uint64_t scan_every_ns = 100'000'000;
constexpr std::uint64_t max_sleep_ns = 50'000'000;
constexpr std::uint64_t max_send_lag_ns = 1'000'000'000;  // further behind than this: skip, and count
constexpr int max_events = 1024;
constexpr std::uint32_t max_opens_per_tick = 2000;
constexpr std::uint32_t max_sends_per_tick = 20000;

std::uint64_t data_of(std::uint32_t idx, std::uint32_t gen) { return (std::uint64_t{gen} << 32) | idx; }

}  // namespace

worker::worker(const bench_options& opt, worker_plan plan)
    : opt_(opt), plan_(plan), rng_(0x9E3779B97F4A7C15ull ^ (std::uint64_t{plan.id} << 32) ^ monotonic_ns()) {
  nstatic_ = static_cast<std::uint32_t>(plan_.gid_hi - plan_.gid_lo);
  conns_.resize(std::size_t{nstatic_} + plan_.churn_slots);
  for (std::uint32_t i = 0; i < nstatic_; ++i) {
    conns_[i].gid = plan_.gid_lo + i;
    conns_[i].room = static_cast<std::uint32_t>(conns_[i].gid / plan_.room_size);
  }
  for (std::uint32_t i = 0; i < plan_.churn_slots; ++i) {
    conns_[nstatic_ + i].ephemeral = true;
    free_slots_.push_back(nstatic_ + plan_.churn_slots - 1 - i);
  }
  rbuf_.resize(256 * 1024);
  wbuf_.resize(opt_.payload_bytes + max_chat_text + ws::max_client_header + 256);
  timeout_ns_ = static_cast<std::uint64_t>(opt_.handshake_timeout_s * 1e9);
}

worker::~worker() {
  for (auto& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  if (ep_ >= 0) ::close(ep_);
}

std::uint64_t worker::cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000ull + static_cast<std::uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

std::uint32_t worker::next_mask() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<std::uint32_t>(rng_ >> 16);
}

std::string worker::room_path(std::uint32_t room) const {
  return "/ws/chat/" + opt_.room_prefix + "_" + std::to_string(room) + "/";
}

// ---------------------------------------------------------------- the loop

int worker::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return 1;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = data_of(control_tag, 0);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, plan_.ctrl_fd, &ev) != 0) return 1;
  epoll_event events[max_events];
  // --busy-poll-us: right after traffic, poll instead of sleeping, so the
  // server's loopback sends find this worker awake (a remote client's
  // wake-ups are never the server's cost).
  const auto busy_ns = static_cast<std::uint64_t>(opt_.busy_poll_us * 1000.0);
  std::uint64_t last_traffic_ns = 0;
  while (!exit_) {
    std::uint64_t now = monotonic_ns();
    if (now >= plan_.hard_deadline_ns) return 3;
    tick(now);
    if (exit_) break;
    now = monotonic_ns();
    const std::uint64_t wake = next_wakeup(now);
    std::uint64_t wait = wake > now ? std::min(wake - now, max_sleep_ns) : 0;
    if (busy_ns > 0 && now - last_traffic_ns < busy_ns) wait = 0;
    timespec ts{static_cast<time_t>(wait / 1'000'000'000ull), static_cast<long>(wait % 1'000'000'000ull)};
    const int n = epoll_pwait2(ep_, events, max_events, &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (n > 0 && busy_ns > 0) last_traffic_ns = monotonic_ns();
    for (int i = 0; i < n && !exit_; ++i) {
      const auto idx = static_cast<std::uint32_t>(events[i].data.u64 & 0xFFFFFFFFu);
      const auto gen = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
      if (idx == control_tag) {
        if (!on_control()) return 1;
        continue;
      }
      if (idx >= conns_.size() || conns_[idx].gen != gen || conns_[idx].st == cstate::free) continue;
      on_event(idx, events[i].events);
    }
  }
  return exit_code_;
}

std::uint64_t worker::next_wakeup(std::uint64_t now) const {
  std::uint64_t wake = now + max_sleep_ns;
  switch (phase_) {
    case phase::connecting:
      if (connect_rate_ > 0 && next_open_ < nstatic_) {
        const auto t = connect_start_ns_ + static_cast<std::uint64_t>(next_open_ * 1e9 / connect_rate_);
        wake = std::min(wake, t);
      }
      break;
    case phase::loading:
      if (!senders_.empty() && next_send_ns_ < load_.end_ns) wake = std::min(wake, next_send_ns_);
      wake = std::min(wake, load_.drain_end_ns);
      break;
    case phase::churning: {
      const auto t = churn_cmd_.start_ns + static_cast<std::uint64_t>(cycles_due_ * 1e9 / churn_cmd_.rate);
      if (t < churn_cmd_.end_ns) wake = std::min(wake, t);
      wake = std::min(wake, churn_cmd_.drain_end_ns);
      break;
    }
    case phase::idle:
      break;
  }
  return std::max(wake, now);
}

void worker::tick(std::uint64_t now) {
  if (now - last_scan_ns_ >= scan_every_ns) {
    last_scan_ns_ = now;
    scan_timeouts(now);
  }
  switch (phase_) {
    case phase::connecting: {
      std::uint32_t opened = 0;
      while (next_open_ < nstatic_ && connect_inflight_ < opt_.connect_concurrency && opened < max_opens_per_tick) {
        if (connect_rate_ > 0 &&
            now < connect_start_ns_ + static_cast<std::uint64_t>(next_open_ * 1e9 / connect_rate_))
          break;
        const std::uint32_t idx = next_open_++;
        ++opened;
        ++connect_.attempted;
        ++connect_inflight_;  // a failure inside open_conn gives it back
        open_conn(idx, conns_[idx].room, conns_[idx].gid);
      }
      if (next_open_ >= nstatic_ && connect_inflight_ == 0) {
        phase_ = phase::idle;
        connect_.done_ns = monotonic_ns();
        connect_.cpu_us = cpu_us();
        if (!send_message(plan_.ctrl_fd, msg_type::rep_connect, encode(connect_))) exit_ = true, exit_code_ = 1;
      }
      break;
    }
    case phase::loading:
      if (now >= load_.start_ns) send_due(now);
      if (now >= load_.drain_end_ns) finish_load();
      break;
    case phase::churning:
      start_cycles(now);
      // Done when the window is over and every cycle has ended (or at the drain deadline).
      if (now >= churn_cmd_.drain_end_ns ||
          (now >= churn_cmd_.end_ns && free_slots_.size() == plan_.churn_slots))
        finish_churn();
      break;
    case phase::idle:
      break;
  }
}

void worker::scan_timeouts(std::uint64_t now) {
  for (auto& c : conns_) {
    if (c.st == cstate::free) continue;
    const bool waiting = c.st == cstate::tcp || c.st == cstate::upgrade ||
                         (c.ephemeral && (c.st == cstate::open || c.st == cstate::closing));
    if (!waiting || now - c.t0_ns < timeout_ns_) continue;
    if (c.st == cstate::tcp || c.st == cstate::upgrade) {
      fail(c, fail_kind::timeout);
    } else {
      (c.st == cstate::open ? churn_.c.echo_timeout : churn_.c.close_timeout)++;
      release(c);
    }
  }
}

// ---------------------------------------------------------------- commands

bool worker::on_control() {
  msg_type type{};
  std::string body;
  if (!recv_message(plan_.ctrl_fd, type, body)) return false;
  switch (type) {
    case msg_type::cmd_connect: {
      cmd_connect_body cmd;
      if (!decode_pod(body, cmd)) return false;
      phase_ = phase::connecting;
      connect_ = connect_report{};
      connect_start_ns_ = std::max(cmd.start_ns, monotonic_ns());
      connect_rate_ = cmd.rate;
      next_open_ = 0;
      connect_inflight_ = 0;
      return true;
    }
    case msg_type::cmd_load: {
      cmd_load_body cmd;
      if (!decode_pod(body, cmd)) return false;
      start_load(cmd);
      return true;
    }
    case msg_type::cmd_churn: {
      cmd_churn_body cmd;
      if (!decode_pod(body, cmd) || !(cmd.rate > 0)) return false;
      start_churn(cmd);
      return true;
    }
    case msg_type::cmd_status:
      return send_message(plan_.ctrl_fd, msg_type::rep_status, encode_pod(status()));
    case msg_type::cmd_close: {
      const status_report s = status();
      for (auto& c : conns_)
        if (c.st != cstate::free) release(c);
      exit_ = true;
      exit_code_ = 0;
      return send_message(plan_.ctrl_fd, msg_type::rep_closed, encode_pod(s));
    }
    default:
      return false;
  }
}

status_report worker::status() const {
  status_report s;
  for (std::uint32_t i = 0; i < nstatic_; ++i) s.open += conns_[i].st == cstate::open;
  s.closed_by_server = closed_by_server_;
  s.protocol_errors = protocol_errors_;
  s.cpu_us = cpu_us();
  return s;
}

void worker::start_load(const cmd_load_body& cmd) {
  load_ = cmd;
  current_step_ = cmd.step;
  report_ = load_report{};
  const std::uint32_t rs = plan_.room_size;
  const std::uint64_t room_lo = nstatic_ ? plan_.gid_lo / rs : 0;
  const std::uint64_t room_hi = nstatic_ ? (plan_.gid_hi - 1) / rs : 0;
  const std::size_t nrooms = nstatic_ ? static_cast<std::size_t>(room_hi - room_lo + 1) : 0;
  report_.room_lo = room_lo;
  report_.open_per_room.assign(nrooms, 0);
  report_.sent_per_room.assign(nrooms, 0);

  const std::uint32_t per_room = cmd.senders_per_room == 0 ? rs : std::min(cmd.senders_per_room, rs);
  slots_per_room_ = per_room;
  senders_.clear();
  for (std::uint32_t i = 0; i < nstatic_; ++i) {
    conns_[i].slot = -1;
    conns_[i].seq = 0;
    if (conns_[i].st == cstate::open) {
      ++report_.open_per_room[conns_[i].room - room_lo];
      ++report_.c.open_at_start;
    }
  }
  // Slot k of a room is member floor(k * room_size / per_room): senders
  // spread evenly over the room, and so over workers and gateways.
  for (std::uint64_t room = room_lo; nstatic_ && room <= room_hi; ++room) {
    for (std::uint32_t k = 0; k < per_room; ++k) {
      const std::uint64_t gid = room * rs + std::uint64_t{k} * rs / per_room;
      if (gid < plan_.gid_lo || gid >= plan_.gid_hi) continue;
      conn& c = conns_[gid - plan_.gid_lo];
      c.slot = static_cast<std::int32_t>(k);
      senders_.push_back(static_cast<std::uint32_t>(gid - plan_.gid_lo));
    }
  }
  const std::size_t fifo_entries = std::size_t{nstatic_} * per_room;
  if (fifo_entries <= max_fifo_entries) {
    fifo_.assign(fifo_entries, 0);
    report_.c.fifo_checked = 1;
  } else {
    fifo_.clear();
    fifo_.shrink_to_fit();
  }
  const double worker_rate = cmd.rate_per_sender * static_cast<double>(senders_.size());
  interval_ns_ = worker_rate > 0 ? std::max<std::uint64_t>(1, static_cast<std::uint64_t>(1e9 / worker_rate)) : 0;
  sends_done_ = 0;
  next_send_ns_ = cmd.start_ns;
  closed_at_step_start_ = closed_by_server_;
  protocol_at_step_start_ = protocol_errors_;
  phase_ = phase::loading;
}

void worker::send_due(std::uint64_t now) {
  if (senders_.empty() || interval_ns_ == 0) return;
  std::uint32_t burst = 0;
  while (next_send_ns_ <= now && next_send_ns_ < load_.end_ns && burst < max_sends_per_tick) {
    conn& c = conns_[senders_[sends_done_ % senders_.size()]];
    ++sends_done_;
    next_send_ns_ = load_.start_ns + sends_done_ * interval_ns_;
    ++burst;
    if (c.st != cstate::open || c.slot < 0) {
      ++report_.c.send_skipped;
      continue;
    }
    const auto room = c.room;
    if (send_chat(c, current_step_, static_cast<std::uint32_t>(c.slot))) {
      ++report_.c.sent;
      ++report_.sent_per_room[room - report_.room_lo];
    } else {
      ++report_.c.send_skipped;
    }
  }
  if (next_send_ns_ + max_send_lag_ns < now && next_send_ns_ < load_.end_ns) {
    // Too far behind to catch up honestly: skip ahead and say so.
    const std::uint64_t target = std::min(now, load_.end_ns);
    const std::uint64_t skip = (target - next_send_ns_) / interval_ns_;
    report_.c.send_skipped += skip;
    sends_done_ += skip;
    next_send_ns_ = load_.start_ns + sends_done_ * interval_ns_;
  }
}

void worker::finish_load() {
  for (std::uint32_t i = 0; i < nstatic_; ++i) report_.c.open_at_end += conns_[i].st == cstate::open;
  report_.c.closed_by_server = closed_by_server_ - closed_at_step_start_;
  report_.c.protocol_errors = protocol_errors_ - protocol_at_step_start_;
  report_.c.cpu_us = cpu_us();
  phase_ = phase::idle;
  senders_.clear();
  if (!send_message(plan_.ctrl_fd, msg_type::rep_load, encode(report_))) exit_ = true, exit_code_ = 1;
}

void worker::start_churn(const cmd_churn_body& cmd) {
  churn_cmd_ = cmd;
  churn_ = churn_report{};
  cycles_due_ = 0;
  phase_ = phase::churning;
}

void worker::start_cycles(std::uint64_t now) {
  std::uint32_t started = 0;
  while (started < max_opens_per_tick) {
    const auto t = churn_cmd_.start_ns + static_cast<std::uint64_t>(cycles_due_ * 1e9 / churn_cmd_.rate);
    if (t > now || t >= churn_cmd_.end_ns) break;
    ++cycles_due_;
    ++started;
    if (free_slots_.empty()) {
      ++churn_.c.skipped_busy;
      continue;
    }
    const std::uint32_t idx = free_slots_.back();
    free_slots_.pop_back();
    ++churn_.c.attempted;
    const std::uint64_t gid = (std::uint64_t{plan_.id} + 1) << 40 | ++churn_seq_;
    const auto room = static_cast<std::uint32_t>((rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull) >> 33) %
                      opt_.churn_rooms;
    open_conn(idx, room, gid);  // a failure is counted and the slot given back inside
  }
}

void worker::finish_churn() {
  for (std::uint32_t i = nstatic_; i < conns_.size(); ++i)
    if (conns_[i].st != cstate::free) {
      ++churn_.c.unfinished;
      release(conns_[i]);
    }
  churn_.c.cpu_us = cpu_us();
  phase_ = phase::idle;
  if (!send_message(plan_.ctrl_fd, msg_type::rep_churn, encode(churn_))) exit_ = true, exit_code_ = 1;
}

// ---------------------------------------------------------------- connections

bool worker::open_conn(std::uint32_t idx, std::uint32_t room, std::uint64_t gid) {
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
  const target& dst = opt_.urls[gid % opt_.urls.size()];
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(c, fail_kind::socket_error);
    return false;
  }
  c.fd = fd;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!opt_.source_ips.empty()) {
    // Port chosen at connect() time per 4-tuple, so each source address
    // gives a full ephemeral range towards each gateway.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = opt_.source_ips[(gid / opt_.urls.size()) % opt_.source_ips.size()];
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      fail(c, fail_kind::socket_error);
      return false;
    }
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = dst.addr;
  sa.sin_port = htons(dst.port);
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = data_of(idx, c.gen);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    fail(c, fail_kind::socket_error);
    return false;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    const int e = errno;
    fail(c, e == EADDRNOTAVAIL ? fail_kind::addr_unavailable
            : e == ECONNREFUSED ? fail_kind::refused
                                : fail_kind::connect_error);
    return false;
  }
  return true;  // EPOLLOUT reports the outcome
}

void worker::on_event(std::uint32_t idx, std::uint32_t events) {
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

void worker::on_connected(conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    return fail(c, err == EADDRNOTAVAIL ? fail_kind::addr_unavailable
                   : err == ECONNREFUSED ? fail_kind::refused
                                         : fail_kind::connect_error);
  }
  c.st = cstate::upgrade;
  const target& dst = opt_.urls[c.gid % opt_.urls.size()];
  const std::string key = ws::key_from_seed(rng_ ^ c.gid);
  // The expected accept waits in `frag` (unused before the upgrade) while the head is read into `in`.
  c.frag = std::make_unique<std::string>(ws::accept_for(key));
  const std::string req = ws::upgrade_request(dst.host_port, room_path(c.room), key);
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

void worker::on_upgrade_data(conn& c) {
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
  on_open(c);
  if (c.st == cstate::free || rest.empty()) return;
  if (process_frames(c, rest) && c.st != cstate::free) c.in.swap(rest);
}

void worker::on_open(conn& c) {
  const std::uint64_t took = monotonic_ns() - c.t0_ns;
  if (!c.ephemeral) {
    ++connect_.opened;
    connect_.handshake_ns.record(took);
    --connect_inflight_;
    return;
  }
  churn_.handshake_ns.record(took);
  if (opt_.churn_echo) {
    c.awaiting_echo = true;
    send_chat(c, 0, 0);
  } else {
    c.close_sent = true;
    c.st = cstate::closing;
    send_frame(c, ws::op_close, std::string_view("\x03\xe8", 2));
  }
}

bool worker::process_frames(conn& c, std::string& buf) {
  std::size_t off = 0;
  while (off < buf.size()) {
    ws::server_frame f;
    std::size_t used = 0;
    const auto st = ws::decode_server_frame(std::string_view(buf).substr(off), max_frame_payload, f, used);
    if (st == ws::decode_status::incomplete) break;
    if (st == ws::decode_status::protocol_error) {
      ++protocol_errors_;
      end_conn(c, false);
      return false;
    }
    off += used;
    if (!on_frame(c, f.fin ? static_cast<std::uint8_t>(f.opcode | 0x80) : f.opcode, f.payload)) return false;
    if (c.st == cstate::free) return false;
  }
  buf.erase(0, off);
  return true;
}

bool worker::on_frame(conn& c, std::uint8_t op_fin, std::string_view payload) {
  const bool fin = op_fin & 0x80;
  const std::uint8_t op = op_fin & 0x0F;
  switch (op) {
    case ws::op_text:
      if (fin) {
        on_text(c, payload);
      } else {
        c.frag = std::make_unique<std::string>(payload);
      }
      return c.st != cstate::free;
    case ws::op_continuation:
      if (!c.frag) {
        ++protocol_errors_;
        end_conn(c, false);
        return false;
      }
      c.frag->append(payload);
      if (c.frag->size() > max_frame_payload) {
        ++protocol_errors_;
        end_conn(c, false);
        return false;
      }
      if (fin) {
        const std::string whole = std::move(*c.frag);
        c.frag.reset();
        on_text(c, whole);
      }
      return c.st != cstate::free;
    case ws::op_binary:
      ++report_.c.foreign;
      return true;
    case ws::op_ping:
      return send_frame(c, ws::op_pong, payload);
    case ws::op_pong:
      return true;
    case ws::op_close:
      if (!c.close_sent) {
        // The server is closing us (slow consumer, rate limit...): answer and go.
        if (c.ephemeral) ++churn_.c.closed_early;
        else ++closed_by_server_;
        c.close_sent = true;
        send_frame(c, ws::op_close, payload.substr(0, std::min<std::size_t>(payload.size(), 2)));
        release(c);
        return false;
      }
      c.st = cstate::closing;  // our close was answered; wait for the server's FIN
      return true;
    default:
      ++protocol_errors_;
      end_conn(c, false);
      return false;
  }
}

void worker::on_text(conn& c, std::string_view text) {
  chat_payload p;
  const auto kind = parse_chat_text(text, p);
  if (kind == chat_parse::error_frame) {
    ++report_.c.error_frames;
    return;
  }
  if (kind != chat_parse::ours) {
    ++report_.c.foreign;
    return;
  }
  if (c.ephemeral) {
    if (c.awaiting_echo && p.sender == c.gid) {
      c.awaiting_echo = false;
      c.close_sent = true;
      c.st = cstate::closing;
      send_frame(c, ws::op_close, std::string_view("\x03\xe8", 2));
    }
    return;
  }
  if (phase_ != phase::loading || p.step != current_step_) {
    ++report_.c.stale;
    return;
  }
  const std::uint64_t now = monotonic_ns();
  ++report_.c.received;
  report_.latency_ns.record(now > p.sent_ns ? now - p.sent_ns : 0);
  if (report_.c.fifo_checked && p.slot < slots_per_room_) {
    std::uint32_t& last = fifo_[std::size_t{index_of(c)} * slots_per_room_ + p.slot];
    if (p.seq + 1 <= last) ++report_.c.fifo_violations;
    else last = p.seq + 1;
  }
}

bool worker::send_chat(conn& c, std::uint32_t step, std::uint32_t slot) {
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

bool worker::send_frame(conn& c, std::uint8_t opcode, std::string_view payload) {
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

bool worker::flush(conn& c) {
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

void worker::set_out_interest(conn& c, bool want) {
  if (c.want_out == want || c.fd < 0) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u64 = data_of(index_of(c), c.gen);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void worker::fail(conn& c, fail_kind why) {
  failure_counts& f = failures_for(c);
  switch (why) {
    case fail_kind::socket_error: ++f.socket_error; break;
    case fail_kind::addr_unavailable: ++f.addr_unavailable; break;
    case fail_kind::refused: ++f.refused; break;
    case fail_kind::connect_error: ++f.connect_error; break;
    case fail_kind::http_503: ++f.http_503; break;
    case fail_kind::http_other: ++f.http_other; break;
    case fail_kind::bad_accept: ++f.bad_accept; break;
    case fail_kind::malformed: ++f.malformed; break;
    case fail_kind::reset: ++f.reset; break;
    case fail_kind::timeout: ++f.timeout; break;
  }
  if (!c.ephemeral && connect_inflight_ > 0) --connect_inflight_;
  release(c);
}

void worker::end_conn(conn& c, bool clean) {
  if (c.ephemeral) {
    if (clean && c.close_sent) {
      ++churn_.c.completed;
      churn_.cycle_ns.record(monotonic_ns() - c.t0_ns);
    } else {
      ++churn_.c.closed_early;
    }
  } else if (!clean) {
    ++closed_by_server_;
  }
  release(c);
}

void worker::release(conn& c) {
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

[[noreturn]] void worker_main(const bench_options& opt, worker_plan plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(1);
  int code = 1;
  {
    worker w(opt, plan);
    code = w.run();
  }
  _exit(code);
}

}  // namespace sb::bench
