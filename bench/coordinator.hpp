// coordinator.hpp — the parent process: runs the chosen scenario (idle,
// fanout, rooms or churn) from start to its last result line.
//
// Why this shape: a scenario is a short script of phases — plan the
// workers, fork them, connect, run load steps or churn, close — and the
// coordinator is only that script and the result lines it prints. The
// worker processes are its worker_fleet's (forking, commands, bounded
// waits, reaping, whatever happens); what a phase measures and how the
// workers' reports merge is its phase_runner's. Everything is bounded by
// the run's hard deadline (--deadline), fixed when the coordinator is made.
// Threading: parent process, one thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench_options.hpp"
#include "bench/phase_runner.hpp"
#include "bench/result_sink.hpp"
#include "bench/worker_fleet.hpp"

namespace sb::bench {

class coordinator {
 public:
  explicit coordinator(const bench_options& opt);
  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;

  // 0 = ran to the end, 1 = aborted (worker died, deadline), 2 = bad plan.
  int run();

 private:
  int run_idle();
  int run_fanout();
  int run_rooms();
  int run_churn();

  nlohmann::ordered_json base_params() const;
  nlohmann::ordered_json result(const char* phase, nlohmann::ordered_json params,
                                nlohmann::ordered_json metrics) const;
  void abort_line(const std::string& why);

  const bench_options& opt_;
  result_sink out_;
  const std::uint64_t run_deadline_ns_;
  worker_fleet fleet_;  // destroyed before out_: kills and reaps every worker
  phase_runner phases_;
};

}  // namespace sb::bench
