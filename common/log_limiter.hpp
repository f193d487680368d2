// log_limiter.hpp — one log line per interval for events an outsider can
// repeat at will.
//
// A malformed frame, a refused handshake, a bad message on layerd's port
// or a failed accept() can come thousands of times a second; a line for
// each would let anyone fill the disk and bury the lines an operator needs
// (docs/architecture.md, rule 4). Each such log site owns a limiter: the
// first event of an interval is logged, the rest are counted, and the next
// line that is logged carries that count (`suppressed=N`). Counters in
// /metrics still count every event.
//
// Threading: admit() may be called from any thread at once (atomics only).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

#include <string>
#include <utility>

#include "common/limits.hpp"
#include "common/logging.hpp"

namespace sb::common {

class log_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_limiter(std::chrono::milliseconds interval = std::chrono::milliseconds(limits::log_interval_ms))
      : interval_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count()) {}

  // The number of events suppressed since the last logged one when this one
  // may be logged now; nothing when it is to be counted and not logged.
  std::optional<std::uint64_t> admit(clock::time_point now = clock::now());

 private:
  const std::int64_t interval_ns_;
  std::atomic<std::int64_t> next_ns_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> suppressed_{0};
};

// A line from `area` at `level` that the limiter admits, with
// `suppressed=N` (how many were left out before it) appended; formatted
// only when logged.
template <class... Args>
void log_limited(log_limiter& limit, const char* area, spdlog::level::level_enum level,
                 spdlog::format_string_t<Args...> text, Args&&... args) {
  spdlog::logger* logger = log(area);
  if (!logger->should_log(level)) return;
  if (auto skipped = limit.admit()) {
    logger->log(level, "{} suppressed={}", fmt::format(text, std::forward<Args>(args)...), *skipped);
  }
}

template <class... Args>
void warn_limited(log_limiter& limit, const char* area, spdlog::format_string_t<Args...> text, Args&&... args) {
  log_limited(limit, area, spdlog::level::warn, text, std::forward<Args>(args)...);
}

}  // namespace sb::common
