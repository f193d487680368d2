// worker.cpp — see worker.hpp. One thread per worker process.
#include "bench/worker.hpp"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>

namespace sb::bench {

namespace {

constexpr std::uint64_t scan_every_ns = 100'000'000;
constexpr std::uint64_t max_sleep_ns = 50'000'000;
constexpr int max_events = 1024;
constexpr std::uint32_t max_opens_per_tick = 2000;

}  // namespace

worker::worker(const bench_options& opt, worker_plan plan)
    : opt_(opt), plan_(plan), pool_(opt, plan_, *this), load_(plan_, pool_), churn_(opt, plan_, pool_) {}

std::uint64_t worker::cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000ull + static_cast<std::uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

// ---------------------------------------------------------------- the loop

int worker::run() {
  if (!pool_.watch_control(plan_.ctrl_fd)) return 1;
  const int ep = pool_.epoll_fd();
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
    const int n = epoll_pwait2(ep, events, max_events, &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (n > 0 && busy_ns > 0) last_traffic_ns = monotonic_ns();
    for (int i = 0; i < n && !exit_; ++i) {
      const auto idx = static_cast<std::uint32_t>(events[i].data.u64 & 0xFFFFFFFFu);
      const auto gen = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
      if (idx == conn_pool::control_tag) {
        if (!on_control()) return 1;
        continue;
      }
      if (!pool_.live(idx, gen)) continue;
      pool_.on_event(idx, events[i].events);
    }
  }
  return exit_code_;
}

std::uint64_t worker::next_wakeup(std::uint64_t now) const {
  std::uint64_t wake = now + max_sleep_ns;
  switch (phase_) {
    case phase::connecting:
      if (connect_rate_ > 0 && next_open_ < pool_.nstatic()) {
        const auto t = connect_start_ns_ + static_cast<std::uint64_t>(next_open_ * 1e9 / connect_rate_);
        wake = std::min(wake, t);
      }
      break;
    case phase::loading:
      wake = load_.next_wakeup(wake);
      break;
    case phase::churning:
      wake = churn_.next_wakeup(wake);
      break;
    case phase::idle:
      break;
  }
  return std::max(wake, now);
}

void worker::tick(std::uint64_t now) {
  if (now - last_scan_ns_ >= scan_every_ns) {
    last_scan_ns_ = now;
    pool_.scan_timeouts(now);
  }
  switch (phase_) {
    case phase::connecting:
      open_due(now);
      break;
    case phase::loading:
      if (now >= load_.start_ns()) load_.send_due(now);
      if (now >= load_.drain_end_ns()) {
        const load_report& r = load_.finish(cpu_us());
        phase_ = phase::idle;
        report(msg_type::rep_load, encode(r));
      }
      break;
    case phase::churning:
      churn_.start_cycles(now);
      // Done when the window is over and every cycle has ended (or at the drain deadline).
      if (churn_.over(now)) {
        const churn_report& r = churn_.finish(cpu_us());
        phase_ = phase::idle;
        report(msg_type::rep_churn, encode(r));
      }
      break;
    case phase::idle:
      break;
  }
}

// The connect phase: open the static members, paced and bounded in flight.
void worker::open_due(std::uint64_t now) {
  const std::uint32_t nstatic = pool_.nstatic();
  std::uint32_t opened = 0;
  while (next_open_ < nstatic && connect_inflight_ < opt_.connect_concurrency && opened < max_opens_per_tick) {
    if (connect_rate_ > 0 && now < connect_start_ns_ + static_cast<std::uint64_t>(next_open_ * 1e9 / connect_rate_))
      break;
    const std::uint32_t idx = next_open_++;
    ++opened;
    ++connect_.attempted;
    ++connect_inflight_;  // a failure inside open() gives it back
    pool_.open(idx, pool_[idx].room, pool_[idx].gid);
  }
  if (next_open_ >= nstatic && connect_inflight_ == 0) {
    phase_ = phase::idle;
    connect_.done_ns = monotonic_ns();
    connect_.cpu_us = cpu_us();
    report(msg_type::rep_connect, encode(connect_));
  }
}

void worker::report(msg_type type, const std::string& body) {
  if (!send_message(plan_.ctrl_fd, type, body)) exit_ = true, exit_code_ = 1;
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
      load_.start(cmd);
      phase_ = phase::loading;
      return true;
    }
    case msg_type::cmd_churn: {
      cmd_churn_body cmd;
      if (!decode_pod(body, cmd) || !(cmd.rate > 0)) return false;
      churn_.start(cmd);
      phase_ = phase::churning;
      return true;
    }
    case msg_type::cmd_status:
      return send_message(plan_.ctrl_fd, msg_type::rep_status, encode_pod(status()));
    case msg_type::cmd_close: {
      const status_report s = status();
      pool_.release_all();
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
  s.open = pool_.open_static();
  s.closed_by_server = pool_.closed_by_server();
  s.protocol_errors = pool_.protocol_errors();
  s.cpu_us = cpu_us();
  return s;
}

// ---------------------------------------------------------------- what the pool reports

void worker::on_open(conn& c) {
  if (c.ephemeral) return churn_.on_open(c);
  ++connect_.opened;
  connect_.handshake_ns.record(monotonic_ns() - c.t0_ns);
  --connect_inflight_;
}

void worker::on_text(conn& c, std::string_view text) {
  chat_payload p;
  const auto kind = parse_chat_text(text, p);
  if (kind == chat_parse::error_frame) return load_.error_frame();
  if (kind != chat_parse::ours) return load_.foreign();
  if (c.ephemeral) return churn_.on_chat(c, p);
  load_.on_chat(c, p, phase_ == phase::loading);
}

void worker::on_failed(const conn& c, fail_kind why) {
  (c.ephemeral ? churn_.failures() : connect_.failed).count(why);
  if (!c.ephemeral && connect_inflight_ > 0) --connect_inflight_;
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
