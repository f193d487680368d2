// log_limiter.cpp — see log_limiter.hpp.
#include "common/log_limiter.hpp"

namespace sb::common {

std::optional<std::uint64_t> log_limiter::admit(clock::time_point now) {
  const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::int64_t next = next_ns_.load(std::memory_order_relaxed);
  // Only the thread that moves the interval on logs; a loser of the race
  // is counted like any event inside the interval.
  if (t >= next && next_ns_.compare_exchange_strong(next, t + interval_ns_, std::memory_order_relaxed)) {
    return suppressed_.exchange(0, std::memory_order_relaxed);
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

}  // namespace sb::common
