// delivery_dedup_test.cpp — duplicates dropped per (origin, group), bounded memory.
#include <gtest/gtest.h>

#include "gateway/delivery_dedup.hpp"

namespace sb::gateway {
namespace {

using clock = delivery_dedup::clock;

TEST(DeliveryDedup, DropsARepeatAndKeepsOriginsAndGroupsApart) {
  delivery_dedup d(100, std::chrono::seconds(60));
  const auto t = clock::now();
  EXPECT_TRUE(d.admit("gwa.1", "chat_a", 1, t));
  EXPECT_TRUE(d.admit("gwa.1", "chat_a", 2, t));
  EXPECT_FALSE(d.admit("gwa.1", "chat_a", 2, t));
  EXPECT_FALSE(d.admit("gwa.1", "chat_a", 1, t));
  EXPECT_TRUE(d.admit("gwb.1", "chat_a", 2, t));  // another origin
  EXPECT_TRUE(d.admit("gwa.1", "chat_b", 2, t));  // another group
  EXPECT_EQ(d.size(), 3u);
}

TEST(DeliveryDedup, TakesALateSendInsideTheWindowOnceAndRefusesOlderOnes) {
  delivery_dedup d(100, std::chrono::seconds(60));
  const auto t = clock::now();
  EXPECT_TRUE(d.admit("o", "g", 10, t));
  EXPECT_TRUE(d.admit("o", "g", 12, t));
  EXPECT_TRUE(d.admit("o", "g", 11, t));  // late, never seen
  EXPECT_FALSE(d.admit("o", "g", 11, t));
  EXPECT_TRUE(d.admit("o", "g", 200, t));
  EXPECT_FALSE(d.admit("o", "g", 200 - delivery_dedup::window, t));  // behind the window
  EXPECT_TRUE(d.admit("o", "g", 200 - delivery_dedup::window + 1, t));
}

TEST(DeliveryDedup, ForgetsIdleEntriesAndStopsTrackingAtTheCap) {
  delivery_dedup d(2, std::chrono::seconds(60));
  const auto t = clock::now();
  EXPECT_TRUE(d.admit("o", "g1", 5, t));
  EXPECT_TRUE(d.admit("o", "g2", 5, t + std::chrono::seconds(30)));
  EXPECT_TRUE(d.admit("o", "g3", 5, t));  // over the cap: passes, not tracked
  EXPECT_TRUE(d.admit("o", "g3", 5, t));
  EXPECT_EQ(d.untracked(), 2u);
  d.expire(t + std::chrono::seconds(61));
  EXPECT_EQ(d.size(), 1u);                // g1 forgotten, g2 kept
  EXPECT_FALSE(d.admit("o", "g2", 5, t + std::chrono::seconds(61)));
}

}  // namespace
}  // namespace sb::gateway
