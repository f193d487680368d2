// log_limiter_test.cpp — one line per interval, the rest counted.
#include "common/log_limiter.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sb::common {

using std::chrono::milliseconds;

TEST(LogLimiter, TheFirstEventIsLoggedAndTheRestOfTheIntervalCounted) {
  log_limiter limit(milliseconds(1000));
  const auto t0 = log_limiter::clock::time_point{} + std::chrono::hours(1);
  auto first = limit.admit(t0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 0u);
  for (int i = 1; i <= 99; ++i) EXPECT_FALSE(limit.admit(t0 + milliseconds(i)).has_value());
  auto next = limit.admit(t0 + milliseconds(1000));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, 99u);  // the line after the interval says how many were left out
  EXPECT_FALSE(limit.admit(t0 + milliseconds(1500)).has_value());
  auto later = limit.admit(t0 + milliseconds(5000));
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(*later, 1u);
}

TEST(LogLimiter, ThreadsRacingLogOnceAndLoseNoCount) {
  log_limiter limit(std::chrono::hours(1));
  std::atomic<int> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (limit.admit()) logged.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(logged.load(), 1);
  // Every other event was counted: the next admitted line would report them.
  log_limiter::clock::time_point far = log_limiter::clock::now() + std::chrono::hours(2);
  auto next = limit.admit(far);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, 39999u);
}

}  // namespace sb::common
