// server_probe.cpp — see server_probe.hpp.
#include "bench/server_probe.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace sb::bench {

namespace {

bool read_rss_kb(int pid, std::uint64_t& kb) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream is(line.substr(6));
      return static_cast<bool>(is >> kb);
    }
  }
  return false;
}

bool read_cpu_us(int pid, std::uint64_t& us) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) return false;
  // comm may contain spaces and ')': fields restart after the last ')'.
  const auto close = all.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream is(all.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  // After ')' come state (field 3) ... utime is field 14, stime field 15.
  for (int i = 3; i <= 15; ++i) {
    if (!(is >> field)) return false;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  us = (utime + stime) * 1'000'000ull / static_cast<std::uint64_t>(ticks > 0 ? ticks : 100);
  return true;
}

}  // namespace

server_sample sample_servers(const std::vector<int>& pids) {
  server_sample s;
  for (int pid : pids) {
    std::uint64_t kb = 0, us = 0;
    if (!read_rss_kb(pid, kb) || !read_cpu_us(pid, us)) {
      s.ok = false;
      continue;
    }
    s.rss_kb += kb;
    s.cpu_us += us;
  }
  return s;
}

}  // namespace sb::bench
