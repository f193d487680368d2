// load_phase.cpp — see load_phase.hpp. Single-threaded, like its worker.
#include "bench/load_phase.hpp"

#include <algorithm>

#include "bench/worker.hpp"

namespace sb::bench {

namespace {

constexpr std::size_t max_fifo_entries = 32u << 20;  // 128 MiB of FIFO state per worker
constexpr std::uint64_t max_send_lag_ns = 1'000'000'000;  // further behind than this: skip, and count
constexpr std::uint32_t max_sends_per_tick = 20000;

}  // namespace

void load_phase::start(const cmd_load_body& cmd) {
  cmd_ = cmd;
  report_ = load_report{};
  const std::uint32_t nstatic = pool_.nstatic();
  const std::uint32_t rs = plan_.room_size;
  const std::uint64_t room_lo = nstatic ? plan_.gid_lo / rs : 0;
  const std::uint64_t room_hi = nstatic ? (plan_.gid_hi - 1) / rs : 0;
  const std::size_t nrooms = nstatic ? static_cast<std::size_t>(room_hi - room_lo + 1) : 0;
  report_.room_lo = room_lo;
  report_.open_per_room.assign(nrooms, 0);
  report_.sent_per_room.assign(nrooms, 0);

  const std::uint32_t per_room = cmd.senders_per_room == 0 ? rs : std::min(cmd.senders_per_room, rs);
  slots_per_room_ = per_room;
  senders_.clear();
  for (std::uint32_t i = 0; i < nstatic; ++i) {
    conn_pool::conn& c = pool_[i];
    c.slot = -1;
    c.seq = 0;
    if (c.st == conn_pool::cstate::open) {
      ++report_.open_per_room[c.room - room_lo];
      ++report_.c.open_at_start;
    }
  }
  // Slot k of a room is member floor(k * room_size / per_room): senders
  // spread evenly over the room, and so over workers and gateways. With
  // --sender-path the senders are the room's first members, which
  // connected on that path (conn_pool::room_path).
  for (std::uint64_t room = room_lo; nstatic && room <= room_hi; ++room) {
    for (std::uint32_t k = 0; k < per_room; ++k) {
      const std::uint64_t gid = room * rs + (plan_.senders_first ? k : std::uint64_t{k} * rs / per_room);
      if (gid < plan_.gid_lo || gid >= plan_.gid_hi) continue;
      conn_pool::conn& c = pool_[static_cast<std::uint32_t>(gid - plan_.gid_lo)];
      c.slot = static_cast<std::int32_t>(k);
      senders_.push_back(static_cast<std::uint32_t>(gid - plan_.gid_lo));
    }
  }
  const std::size_t fifo_entries = std::size_t{nstatic} * per_room;
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
  closed_at_step_start_ = pool_.closed_by_server();
  protocol_at_step_start_ = pool_.protocol_errors();
}

void load_phase::send_due(std::uint64_t now) {
  if (senders_.empty() || interval_ns_ == 0) return;
  std::uint32_t burst = 0;
  while (next_send_ns_ <= now && next_send_ns_ < cmd_.end_ns && burst < max_sends_per_tick) {
    conn_pool::conn& c = pool_[senders_[sends_done_ % senders_.size()]];
    ++sends_done_;
    next_send_ns_ = cmd_.start_ns + sends_done_ * interval_ns_;
    ++burst;
    if (c.st != conn_pool::cstate::open || c.slot < 0) {
      ++report_.c.send_skipped;
      continue;
    }
    const auto room = c.room;
    if (pool_.send_chat(c, cmd_.step, static_cast<std::uint32_t>(c.slot))) {
      ++report_.c.sent;
      ++report_.sent_per_room[room - report_.room_lo];
    } else {
      ++report_.c.send_skipped;
    }
  }
  if (next_send_ns_ + max_send_lag_ns < now && next_send_ns_ < cmd_.end_ns) {
    // Too far behind to catch up honestly: skip ahead and say so.
    const std::uint64_t target = std::min(now, cmd_.end_ns);
    const std::uint64_t skip = (target - next_send_ns_) / interval_ns_;
    report_.c.send_skipped += skip;
    sends_done_ += skip;
    next_send_ns_ = cmd_.start_ns + sends_done_ * interval_ns_;
  }
}

const load_report& load_phase::finish(std::uint64_t cpu_us) {
  report_.c.open_at_end = pool_.open_static();
  report_.c.closed_by_server = pool_.closed_by_server() - closed_at_step_start_;
  report_.c.protocol_errors = pool_.protocol_errors() - protocol_at_step_start_;
  report_.c.cpu_us = cpu_us;
  senders_.clear();
  return report_;
}

}  // namespace sb::bench
