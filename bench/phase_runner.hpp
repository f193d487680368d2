// phase_runner.hpp — runs one timed phase on every worker and turns their
// reports into one result: the connect phase, a load step, and the metrics
// of a churn phase.
//
// Why this shape: the phases are where the numbers come from, so what they
// measure sits together, apart from the scenarios that string them into
// runs (coordinator) and from the processes that carry them out
// (worker_fleet). Every phase starts at an absolute CLOCK_MONOTONIC time
// sent ahead to all workers, so all workers move together, and the server
// and machine are sampled at the phase's edges. A report from every worker
// or none: one lost worker makes the phase fail. It also keeps the workers'
// CPU reading from one phase to the next, so each step shows its own.
// Threading: parent process, one thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/result_sink.hpp"
#include "bench/server_probe.hpp"
#include "bench/worker_fleet.hpp"

namespace sb::bench {

class phase_runner {
 public:
  struct step_outcome {
    nlohmann::ordered_json line;
    bool sustainable = false;
    bool ok = false;  // false = the run must stop (worker lost, deadline)
    double deliveries_per_s = 0;
    std::string why_not;
  };
  // The server and the machine sampled at a phase's edges.
  struct samples {
    server_sample s0, s1;
    machine_sample mc0, mc1;
  };

  phase_runner(const bench_options& opt, worker_fleet& fleet, result_sink& out, std::uint64_t run_deadline_ns)
      : opt_(opt), fleet_(fleet), out_(out), run_deadline_ns_(run_deadline_ns) {}

  // Opens the nstatic static connections; fills the connect metrics.
  bool connect(std::uint64_t nstatic, std::uint32_t room_size, nlohmann::ordered_json& metrics,
               std::uint64_t& opened);
  // One load step at `rate` messages/s per sender for `seconds` (0: --duration);
  // the line is a "step" line with `params`.
  step_outcome load_step(std::uint32_t step, double rate, std::uint32_t senders_per_room,
                         nlohmann::ordered_json params, double seconds = 0);
  // Merges the workers' churn reports of a phase that started at start_ns
  // into `m`; false on a report that does not decode.
  bool churn_metrics(const std::vector<std::string>& bodies, double duration, std::uint64_t start_ns,
                     const samples& at, nlohmann::ordered_json& m) const;

 private:
  const bench_options& opt_;
  worker_fleet& fleet_;
  result_sink& out_;
  const std::uint64_t run_deadline_ns_;
  std::uint64_t worker_cpu_us_ = 0;  // sum of the workers' last cpu readings
};

}  // namespace sb::bench
