// worker_fleet.hpp — the parent's side of its worker processes: how many to
// fork and how to split the connections among them, forking them, sending
// every one the same command, and waiting for exactly one report from each.
//
// Why this shape: only the parent knows the whole picture, so it hands out
// contiguous connection-id ranges, and it must never wait on a worker
// forever: every wait is bounded by the run's hard deadline, and a worker
// that goes away or answers out of turn ends the run. Whatever happens, the
// destructor kills and reaps every worker it forked. It never touches a
// WebSocket itself.
// Threading: parent process, one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/ipc.hpp"
#include "bench/result_sink.hpp"

namespace sb::bench {

class worker_fleet {
 public:
  // Raises the soft RLIMIT_NOFILE to the hard one: what each worker may open.
  worker_fleet(const bench_options& opt, result_sink& out, std::uint64_t run_deadline_ns);
  ~worker_fleet();
  worker_fleet(const worker_fleet&) = delete;
  worker_fleet& operator=(const worker_fleet&) = delete;

  // Chooses the worker count for nstatic connections plus churn_slots per
  // worker; false (said on the progress stream) when the plan cannot work.
  bool plan(std::uint64_t nstatic, std::uint32_t churn_slots);
  // The planned worker count (0 before plan()).
  unsigned count() const { return count_; }
  bool spawn(std::uint64_t nstatic, std::uint32_t room_size, std::uint32_t churn_slots);
  bool broadcast(msg_type type, const std::string& body);
  // One `want` report from every worker, in worker order; false when one is
  // lost, answers something else, or the hard deadline passes.
  bool gather(msg_type want, std::vector<std::string>& bodies);
  // Tells every worker to close and waits for their last word.
  void close();

 private:
  struct handle {
    pid_t pid = -1;
    int fd = -1;
    std::uint64_t gid_lo = 0, gid_hi = 0;
  };
  std::uint64_t deadline_left_ns() const;

  const bench_options& opt_;
  result_sink& out_;
  const std::uint64_t run_deadline_ns_;
  std::vector<handle> workers_;
  unsigned count_ = 0;
  std::uint64_t per_worker_cap_ = 0;
};

}  // namespace sb::bench
