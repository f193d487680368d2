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

TEST(RedisUrl, ParsesSeveralUrlsInOrder) {
  auto u = parse_redis_urls({"redis://127.0.0.1:6379/0", "redis://10.0.0.3:6380/2"});
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 2u);
  EXPECT_EQ(u.value()[0].port, 6379);
  EXPECT_EQ(u.value()[1].host, "10.0.0.3");
  EXPECT_EQ(u.value()[1].db, 2);
  EXPECT_EQ(describe(u.value()[1]), "10.0.0.3:6380/2");
}

TEST(RedisUrl, NamesTheBadEntryAmongSeveralAndHidesItsPassword) {
  auto u = parse_redis_urls({"redis://a:1/0", "redis://:s3cret@b:99999/0"});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error_text(), "redis URL #2 (redis://***@b:99999/0): bad port in redis URL");
  EXPECT_FALSE(parse_redis_urls({}));
  auto scheme = parse_redis_urls({"redis://a:1/0", "unix:///tmp/r.sock"});
  ASSERT_FALSE(scheme);
  EXPECT_NE(scheme.error_text().find("#2"), std::string::npos);
}

}  // namespace
}  // namespace sb::common
