// worker.hpp — one load-generating process: a single-threaded epoll loop over
// thousands of raw WebSocket client connections.
//
// Why this shape: a process may hold at most 20,000 open files, so 100,000
// connections need several processes; fork() gives each its own plan (a
// contiguous range of connection ids) and its own control socket to the
// parent. Inside, one thread, one epoll set, level-triggered. The worker
// itself is the loop, the parent's commands and the phase clock; the
// sockets are its conn_pool's, a load step is its load_phase's and churn
// its churn_phase's, and it routes what the pool sees to whichever phase it
// concerns. Every phase ends by a deadline given by the parent; the loop
// also exits at the run's hard deadline or when the parent's socket closes.
// Threading: one thread per process; nothing here is shared between threads.
#pragma once

#include <cstdint>
#include <string_view>

#include "bench/bench_options.hpp"
#include "bench/churn_phase.hpp"
#include "bench/conn_pool.hpp"
#include "bench/ipc.hpp"
#include "bench/load_phase.hpp"

namespace sb::bench {

struct worker_plan {
  unsigned id = 0;
  std::uint64_t gid_lo = 0, gid_hi = 0;  // this worker's static connections [lo, hi)
  std::uint32_t room_size = 1;
  std::uint32_t churn_slots = 0;  // concurrent churn cycles
  bool senders_first = false;     // fanout --sender-path: a room's senders are its first members
  int ctrl_fd = -1;
  std::uint64_t hard_deadline_ns = 0;
};

class worker {
 public:
  worker(const bench_options& opt, worker_plan plan);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Runs until the parent says close (0), the parent vanishes (1) or the
  // hard deadline passes (3).
  int run();

 private:
  friend class conn_pool;  // reports what happens to connections through the hooks below
  enum class phase { idle, connecting, loading, churning };
  using conn = conn_pool::conn;

  // commands
  bool on_control();
  status_report status() const;

  // loop
  void tick(std::uint64_t now);
  std::uint64_t next_wakeup(std::uint64_t now) const;
  void open_due(std::uint64_t now);
  void report(msg_type type, const std::string& body);

  // hooks for the pool
  void on_open(conn& c);
  void on_text(conn& c, std::string_view text);
  void on_binary() { load_.foreign(); }
  void on_failed(const conn& c, fail_kind why);
  void on_churn_end(const conn& c, conn_pool::churn_end how) { churn_.on_end(c, how); }

  static std::uint64_t cpu_us();

  const bench_options& opt_;
  worker_plan plan_;
  conn_pool pool_;
  load_phase load_;
  churn_phase churn_;
  bool exit_ = false;
  int exit_code_ = 0;
  std::uint64_t last_scan_ns_ = 0;
  phase phase_ = phase::idle;

  // connect phase
  connect_report connect_;
  std::uint64_t connect_start_ns_ = 0;
  double connect_rate_ = 0;
  std::uint32_t next_open_ = 0;
  std::uint32_t connect_inflight_ = 0;
};

// The body of a forked worker process; never returns.
[[noreturn]] void worker_main(const bench_options& opt, worker_plan plan);

}  // namespace sb::bench
