// redis_url_test.cpp — parsing of --redis URLs.
#include <gtest/gtest.h>

#include "common/redis_url.hpp"

namespace sb::common {
namespace {

TEST(RedisUrl, ParsesHostPortAndDb) {
  auto u = parse_redis_url("redis://10.0.0.2:6380/3");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "10.0.0.2");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3);
  EXPECT_TRUE(u->password.empty());
}

TEST(RedisUrl, DefaultsPortAndDb) {
  auto u = parse_redis_url("redis://localhost");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
}

TEST(RedisUrl, ReadsPassword) {
  auto u = parse_redis_url("redis://:s3cret@127.0.0.1:6379/0");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->host, "127.0.0.1");
}

TEST(RedisUrl, RefusesBadUrls) {
  EXPECT_FALSE(parse_redis_url("http://x:1"));
  EXPECT_FALSE(parse_redis_url("redis://"));
  EXPECT_FALSE(parse_redis_url("redis://h:0"));
  EXPECT_FALSE(parse_redis_url("redis://h:70000"));
  EXPECT_FALSE(parse_redis_url("redis://h:12ab"));
  EXPECT_FALSE(parse_redis_url("redis://h:1/x"));
}

}  // namespace
}  // namespace sb::common
