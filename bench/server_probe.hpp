// server_probe.hpp — reads the measured servers' memory and CPU from /proc.
//
// Why this shape: the bench measures the gateways/layerd it is pointed at
// from the outside, with no help from them: VmRSS from /proc/PID/status and
// utime+stime from /proc/PID/stat, summed over every --server-pid. A process
// that has gone away is reported (ok = false) rather than silently counted
// as zero. The whole machine's busy time (/proc/stat) is read too: on a
// machine shared by the stack and the generator, a delivery's full cost
// includes the kernel work done in the receiver's context and in softirq,
// which no single process is charged for. Stateless; parent process only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sb::bench {

struct server_sample {
  bool ok = true;             // every pid could be read
  std::uint64_t rss_kb = 0;   // sum of VmRSS
  std::uint64_t cpu_us = 0;   // sum of utime + stime
};

server_sample sample_servers(const std::vector<int>& pids);

// All CPUs together, from /proc/stat. Only the idle time is used: the kernel
// keeps it exactly (a sleeping CPU's idle span is timed), while the busy
// columns are sampled at timer ticks and miss short bursts between idle
// spans. So busy time over a window is cpus × wall − idle.
struct machine_sample {
  bool ok = false;
  unsigned cpus = 0;           // "cpuN" lines
  std::uint64_t idle_us = 0;   // idle + iowait, all CPUs
  std::uint64_t at_ns = 0;     // CLOCK_MONOTONIC when read
};

// Parses the text of /proc/stat; `ticks` is USER_HZ. False without a "cpu " line.
bool parse_proc_stat(const std::string& text, long ticks, machine_sample& out);
machine_sample sample_machine();

// CPU-seconds the machine was busy between two samples (0 if either failed).
double machine_busy_s(const machine_sample& a, const machine_sample& b);

}  // namespace sb::bench
