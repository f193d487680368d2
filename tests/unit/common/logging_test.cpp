// logging_test.cpp — the area loggers: one logger per area, found the same
// from every thread, and level changes reach the pointers already handed out.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/logging.hpp"

namespace {

TEST(Logging, AnAreaIsAlwaysTheSameLoggerWhateverTheSpellingsAddress) {
  auto* a = sb::common::log("ws");
  const std::string copy = "ws";  // same text, another address
  auto* b = sb::common::log(copy.c_str());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->name(), "ws");
  EXPECT_NE(sb::common::log("link"), a);
}

TEST(Logging, EveryThreadGetsTheSameLogger) {
  auto* expected = sb::common::log("fanout");
  std::vector<spdlog::logger*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] {
      for (int n = 0; n < 1000; ++n) seen[i] = sb::common::log("fanout");
    });
  }
  for (auto& t : threads) t.join();
  for (auto* l : seen) EXPECT_EQ(l, expected);
}

TEST(Logging, ALevelChangeReachesLoggersAlreadyHandedOut) {
  auto* l = sb::common::log("redis");
  ASSERT_TRUE(sb::common::setup_logging("warn"));
  EXPECT_EQ(l->level(), spdlog::level::warn);
  ASSERT_TRUE(sb::common::setup_logging("debug"));
  EXPECT_EQ(l->level(), spdlog::level::debug);
  EXPECT_FALSE(sb::common::setup_logging("loud"));
  EXPECT_EQ(l->level(), spdlog::level::debug);
  ASSERT_TRUE(sb::common::setup_logging("info"));
}

TEST(Logging, AnAreaOutsideTheListStillGetsALogger) {
  auto* l = sb::common::log("switchboard-test-area");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->name(), "switchboard-test-area");
  EXPECT_EQ(sb::common::log("switchboard-test-area"), l);
}

}  // namespace
