// churn_phase.cpp — see churn_phase.hpp. Single-threaded, like its worker.
#include "bench/churn_phase.hpp"

#include <algorithm>

#include "bench/worker.hpp"

namespace sb::bench {

namespace {

constexpr std::uint32_t max_opens_per_tick = 2000;

}  // namespace

std::uint64_t churn_phase::due_ns(std::uint64_t cycle) const {
  return cmd_.start_ns + static_cast<std::uint64_t>(cycle * 1e9 / cmd_.rate);
}

void churn_phase::start(const cmd_churn_body& cmd) {
  cmd_ = cmd;
  report_ = churn_report{};
  cycles_due_ = 0;
}

std::uint64_t churn_phase::next_wakeup(std::uint64_t wake) const {
  const auto t = due_ns(cycles_due_);
  if (t < cmd_.end_ns) wake = std::min(wake, t);
  return std::min(wake, cmd_.drain_end_ns);
}

bool churn_phase::over(std::uint64_t now) const {
  return now >= cmd_.drain_end_ns || (now >= cmd_.end_ns && pool_.free_churn_slots() == plan_.churn_slots);
}

void churn_phase::start_cycles(std::uint64_t now) {
  std::uint32_t started = 0;
  while (started < max_opens_per_tick) {
    const auto t = due_ns(cycles_due_);
    if (t > now || t >= cmd_.end_ns) break;
    ++cycles_due_;
    ++started;
    std::uint32_t idx = 0;
    if (!pool_.take_churn_slot(idx)) {
      ++report_.c.skipped_busy;
      continue;
    }
    ++report_.c.attempted;
    const std::uint64_t gid = (std::uint64_t{plan_.id} + 1) << 40 | ++seq_;
    const auto room = pool_.random_below(opt_.churn_rooms);
    pool_.open(idx, room, gid);  // a failure is counted and the slot given back inside
  }
}

const churn_report& churn_phase::finish(std::uint64_t cpu_us) {
  for (std::uint32_t i = pool_.nstatic(); i < pool_.size(); ++i)
    if (pool_[i].st != conn_pool::cstate::free) {
      ++report_.c.unfinished;
      pool_.release(pool_[i]);
    }
  report_.c.cpu_us = cpu_us;
  return report_;
}

void churn_phase::on_open(conn_pool::conn& c) {
  report_.handshake_ns.record(monotonic_ns() - c.t0_ns);
  if (opt_.churn_echo) {
    c.awaiting_echo = true;
    pool_.send_chat(c, 0, 0);
  } else {
    pool_.start_close(c);
  }
}

void churn_phase::on_chat(conn_pool::conn& c, const chat_payload& p) {
  if (c.awaiting_echo && p.sender == c.gid) {
    c.awaiting_echo = false;
    pool_.start_close(c);
  }
}

void churn_phase::on_end(const conn_pool::conn& c, conn_pool::churn_end how) {
  switch (how) {
    case conn_pool::churn_end::completed:
      ++report_.c.completed;
      report_.cycle_ns.record(monotonic_ns() - c.t0_ns);
      break;
    case conn_pool::churn_end::closed_early: ++report_.c.closed_early; break;
    case conn_pool::churn_end::echo_timeout: ++report_.c.echo_timeout; break;
    case conn_pool::churn_end::close_timeout: ++report_.c.close_timeout; break;
  }
}

}  // namespace sb::bench
