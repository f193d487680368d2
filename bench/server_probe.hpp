// server_probe.hpp — reads the measured servers' memory and CPU from /proc.
//
// Why this shape: the bench measures the gateways/layerd it is pointed at
// from the outside, with no help from them: VmRSS from /proc/PID/status and
// utime+stime from /proc/PID/stat, summed over every --server-pid. A process
// that has gone away is reported (ok = false) rather than silently counted
// as zero. Stateless; parent process only.
#pragma once

#include <cstdint>
#include <vector>

namespace sb::bench {

struct server_sample {
  bool ok = true;             // every pid could be read
  std::uint64_t rss_kb = 0;   // sum of VmRSS
  std::uint64_t cpu_us = 0;   // sum of utime + stime
};

server_sample sample_servers(const std::vector<int>& pids);

}  // namespace sb::bench
