// report_util.hpp — small helpers the parent's scenario and phase code
// share: seconds and milliseconds, rounding for the JSON lines, "%g" text
// for progress notes, sleeping until a phase time, and a result line's shape.
//
// Why this shape: every number in a result line is rounded the same way and
// every line has the same four keys (scenario, phase, params, metrics), so
// the code that builds them takes these from one place. Inline and
// header-only: a few lines each, no state.
// Threading: none; parent process.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "bench/bench_options.hpp"
#include "bench/chat_payload.hpp"

namespace sb::bench {

inline constexpr std::uint64_t phase_lead_ns = 200'000'000;  // commands go out this long before a phase starts

inline std::uint64_t secs_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }

inline double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

inline double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

inline void sleep_until_ns(std::uint64_t t) {
  const std::uint64_t now = monotonic_ns();
  if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
}

inline nlohmann::ordered_json result_line(const bench_options& opt, const char* phase, nlohmann::ordered_json params,
                                          nlohmann::ordered_json metrics) {
  nlohmann::ordered_json j;
  j["scenario"] = opt.scenario_name;
  j["phase"] = phase;
  j["params"] = std::move(params);
  j["metrics"] = std::move(metrics);
  return j;
}

}  // namespace sb::bench
