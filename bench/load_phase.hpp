// load_phase.hpp — one worker's part of a load step: which static members
// send, when each send is due, and what arrives (deliveries, latency,
// per-sender FIFO order), ending in the load_report sent to the parent.
//
// Why this shape: senders are spread evenly over rooms (slot k of a room is
// member floor(k * room_size / senders_per_room)) and sent round-robin at
// one fixed interval from the step's start, so a worker that falls behind
// catches up in bursts, or skips and counts what it could not send honestly.
// Receiving a message is the generator's hottest path, so on_chat is inline
// here: no extra call between a frame and its bookkeeping.
// Threading: none; owned and called by its worker's single thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bench/chat_payload.hpp"
#include "bench/conn_pool.hpp"
#include "bench/ipc.hpp"

namespace sb::bench {

struct worker_plan;

class load_phase {
 public:
  load_phase(const worker_plan& plan, conn_pool& pool) : plan_(plan), pool_(pool) {}

  void start(const cmd_load_body& cmd);
  void send_due(std::uint64_t now);
  // Fills in the step's end counters; the report stays valid until the next start.
  const load_report& finish(std::uint64_t cpu_us);

  std::uint64_t start_ns() const { return cmd_.start_ns; }
  std::uint64_t drain_end_ns() const { return cmd_.drain_end_ns; }
  // The earlier of `wake` and when this step next needs the loop.
  std::uint64_t next_wakeup(std::uint64_t wake) const {
    if (!senders_.empty() && next_send_ns_ < cmd_.end_ns) wake = std::min(wake, next_send_ns_);
    return std::min(wake, cmd_.drain_end_ns);
  }

  void error_frame() { ++report_.c.error_frames; }
  void foreign() { ++report_.c.foreign; }
  // A chat message of ours reached static member c; `loading` = a step is running.
  void on_chat(const conn_pool::conn& c, const chat_payload& p, bool loading) {
    if (!loading || p.step != cmd_.step) {
      ++report_.c.stale;
      return;
    }
    const std::uint64_t now = monotonic_ns();
    ++report_.c.received;
    report_.latency_ns.record(now > p.sent_ns ? now - p.sent_ns : 0);
    if (report_.c.fifo_checked && p.slot < slots_per_room_) {
      std::uint32_t& last = fifo_[std::size_t{pool_.index_of(c)} * slots_per_room_ + p.slot];
      if (p.seq + 1 <= last) ++report_.c.fifo_violations;
      else last = p.seq + 1;
    }
  }

 private:
  const worker_plan& plan_;
  conn_pool& pool_;
  cmd_load_body cmd_{};
  load_report report_;
  std::vector<std::uint32_t> senders_;
  std::uint32_t slots_per_room_ = 0;
  std::vector<std::uint32_t> fifo_;  // [static idx * slots_per_room + slot] = last seq + 1
  std::uint64_t interval_ns_ = 0;
  std::uint64_t sends_done_ = 0;  // scheduled sends handled (sent or skipped)
  std::uint64_t next_send_ns_ = 0;
  std::uint64_t closed_at_step_start_ = 0, protocol_at_step_start_ = 0;
};

}  // namespace sb::bench
