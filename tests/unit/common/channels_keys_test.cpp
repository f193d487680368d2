// channels_keys_test.cpp — the shared channels_redis key layout.
#include "common/channels_keys.hpp"

#include <gtest/gtest.h>

namespace sb::common {

TEST(ChannelsKeys, GroupKeyIsChannelsRedisLayout) {
  const channels_keys keys("asgi");
  EXPECT_EQ(keys.group("chat_lobby"), "asgi:group:chat_lobby");
  EXPECT_EQ(keys.pending("notification_x"), "asgi:pending:notification_x");
  EXPECT_EQ(keys.notification_routes("gw-1abc"), "asgi:notification-routes:gw-1abc");
}

TEST(ChannelsKeys, InboxKeyIsThePrefixThenTheNonLocalName) {
  EXPECT_EQ(channels_keys("asgi").inbox("specific.gw-1!"), "asgi" "specific.gw-1!");
  EXPECT_EQ(channels_keys("pre:").inbox("worker"), "pre:worker");
}

TEST(ChannelsKeys, GroupOfInvertsGroupKeyOnly) {
  const channels_keys keys("my*pre");
  EXPECT_EQ(keys.group_of(keys.group("chat_a")).value(), "chat_a");
  EXPECT_FALSE(keys.group_of("my*pre:group:").has_value());
  EXPECT_FALSE(keys.group_of("other:group:chat_a").has_value());
  EXPECT_FALSE(keys.group_of("my*pre:pending:chat_a").has_value());
}

TEST(ChannelsKeys, ScanPatternMatchesPrefixLiterally) {
  EXPECT_EQ(channels_keys("asgi").group_scan_pattern(), "asgi:group:*");
  EXPECT_EQ(channels_keys("a*b?[c]\\").group_scan_pattern(), "a\\*b\\?\\[c\\]\\\\:group:*");
}

TEST(ChannelsKeys, CommandsHaveChannelsRedisShape) {
  EXPECT_EQ(zadd_member("k", "1.500000", "c"), (redis_argv{"ZADD", "k", "1.500000", "c"}));
  EXPECT_EQ(expire("k", 86400), (redis_argv{"EXPIRE", "k", "86400"}));
  EXPECT_EQ(zrem_member("k", "c"), (redis_argv{"ZREM", "k", "c"}));
  EXPECT_EQ(scan_groups("0", "p*"), (redis_argv{"SCAN", "0", "MATCH", "p*", "COUNT", "1000"}));
  EXPECT_EQ(score_text(1.5), "1.500000");
}

}  // namespace sb::common
