// coordinator.hpp — the parent process: plans the run, forks the workers,
// drives the phases, merges the reports and prints the results.
//
// Why this shape: only the parent knows the whole picture (rooms spread
// over workers, gateways and source addresses; server pids), so it hands
// out contiguous connection-id ranges, tells every worker when each phase
// starts and ends (absolute CLOCK_MONOTONIC times, so all workers move
// together), and waits for exactly one report per worker per phase, bounded
// by the run's hard deadline. It never touches a WebSocket itself. Whatever
// happens, the destructor kills and reaps every worker it forked.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/ipc.hpp"
#include "bench/result_sink.hpp"

namespace sb::bench {

class coordinator {
 public:
  explicit coordinator(const bench_options& opt);
  ~coordinator();
  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;

  // 0 = ran to the end, 1 = aborted (worker died, deadline), 2 = bad plan.
  int run();

 private:
  struct worker_handle {
    pid_t pid = -1;
    int fd = -1;
    std::uint64_t gid_lo = 0, gid_hi = 0;
  };
  struct step_outcome {
    nlohmann::ordered_json line;
    bool sustainable = false;
    bool ok = false;  // false = the run must stop (worker lost, deadline)
    double deliveries_per_s = 0;
    std::string why_not;
  };

  int run_idle();
  int run_fanout();
  int run_rooms();
  int run_churn();

  bool plan_workers(std::uint64_t nstatic, std::uint32_t churn_slots);
  bool spawn(std::uint64_t nstatic, std::uint32_t room_size, std::uint32_t churn_slots);
  bool broadcast(msg_type type, const std::string& body);
  bool gather(msg_type want, std::vector<std::string>& bodies);
  bool connect_phase(std::uint64_t nstatic, std::uint32_t room_size, nlohmann::ordered_json& metrics,
                     std::uint64_t& opened);
  step_outcome load_step(std::uint32_t step, double rate, std::uint32_t senders_per_room, std::uint32_t room_size,
                         nlohmann::ordered_json params);
  void close_workers();
  nlohmann::ordered_json base_params() const;
  nlohmann::ordered_json result(const char* phase, nlohmann::ordered_json params,
                                nlohmann::ordered_json metrics) const;
  std::uint64_t deadline_left_ns() const;
  void abort_line(const std::string& why);

  const bench_options& opt_;
  result_sink out_;
  std::vector<worker_handle> workers_;
  unsigned nworkers_ = 0;
  std::uint64_t run_deadline_ns_ = 0;
  std::uint64_t per_worker_cap_ = 0;
  std::uint64_t worker_cpu_us_ = 0;  // sum of the workers' last cpu readings
};

}  // namespace sb::bench
