// server_probe.cpp — see server_probe.hpp.
#include "bench/server_probe.hpp"

#include <time.h>
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

bool parse_proc_stat(const std::string& text, long ticks, machine_sample& out) {
  std::istringstream lines(text);
  std::string line;
  bool total = false;
  unsigned cpus = 0;
  std::uint64_t idle_ticks = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("cpu", 0) != 0) continue;
    std::istringstream is(line);
    std::string name;
    is >> name;
    if (name != "cpu") {
      ++cpus;  // cpu0, cpu1, ...
      continue;
    }
    // user nice system idle iowait ...
    std::uint64_t v[5] = {};
    for (auto& x : v)
      if (!(is >> x)) return false;
    idle_ticks = v[3] + v[4];
    total = true;
  }
  if (!total || cpus == 0) return false;
  const std::uint64_t hz = static_cast<std::uint64_t>(ticks > 0 ? ticks : 100);
  out.cpus = cpus;
  out.idle_us = idle_ticks * 1'000'000ull / hz;
  out.ok = true;
  return true;
}

machine_sample sample_machine() {
  machine_sample m;
  std::ifstream f("/proc/stat");
  std::ostringstream text;
  text << f.rdbuf();
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (parse_proc_stat(text.str(), sysconf(_SC_CLK_TCK), m))
    m.at_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  return m;
}

double machine_busy_s(const machine_sample& a, const machine_sample& b) {
  if (!a.ok || !b.ok || b.at_ns <= a.at_ns || a.cpus != b.cpus) return 0.0;
  const double all = static_cast<double>(b.at_ns - a.at_ns) / 1e9 * a.cpus;
  const double idle = static_cast<double>(b.idle_us - a.idle_us) / 1e6;
  return all > idle ? all - idle : 0.0;
}

}  // namespace sb::bench
