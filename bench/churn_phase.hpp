// churn_phase.hpp — one worker's part of the churn scenario: short-lived
// connections opened at a fixed rate into random rooms, each one a cycle of
// connect, upgrade, (optionally) send and wait for its own echo, close.
//
// Why this shape: cycles run in the pool's churn slots, at most
// --connect-concurrency at once; a cycle due while every slot is busy is
// skipped and counted rather than queued, so the rate asked for stays the
// rate tried. The phase is over when the window has passed and every cycle
// has ended, or at the drain deadline; what is still open then is counted
// as unfinished.
// Threading: none; owned and called by its worker's single thread.
#pragma once

#include <cstdint>

#include "bench/bench_options.hpp"
#include "bench/chat_payload.hpp"
#include "bench/conn_pool.hpp"
#include "bench/ipc.hpp"

namespace sb::bench {

struct worker_plan;

class churn_phase {
 public:
  churn_phase(const bench_options& opt, const worker_plan& plan, conn_pool& pool)
      : opt_(opt), plan_(plan), pool_(pool) {}

  void start(const cmd_churn_body& cmd);
  // Opens the cycles that are due by `now`.
  void start_cycles(std::uint64_t now);
  // The earlier of `wake` and when the next cycle is due or the drain ends.
  std::uint64_t next_wakeup(std::uint64_t wake) const;
  bool over(std::uint64_t now) const;
  // Ends what is still open; the report stays valid until the next start.
  const churn_report& finish(std::uint64_t cpu_us);

  failure_counts& failures() { return report_.c.failed; }
  void on_open(conn_pool::conn& c);
  void on_chat(conn_pool::conn& c, const chat_payload& p);
  void on_end(const conn_pool::conn& c, conn_pool::churn_end how);

 private:
  std::uint64_t due_ns(std::uint64_t cycle) const;

  const bench_options& opt_;
  const worker_plan& plan_;
  conn_pool& pool_;
  cmd_churn_body cmd_{};
  churn_report report_;
  std::uint64_t cycles_due_ = 0;
  std::uint64_t seq_ = 0;
};

}  // namespace sb::bench
