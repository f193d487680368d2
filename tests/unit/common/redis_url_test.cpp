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

TEST(RedisUrl, ParsesASentinelSet) {
  auto u = parse_redis_url("sentinel://10.0.0.1:26380,10.0.0.2,sentinel-c:26381/mymaster?db=2");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->is_sentinel());
  ASSERT_EQ(u->sentinels.size(), 3u);
  EXPECT_EQ(u->sentinels[0], (redis_endpoint{"10.0.0.1", 26380}));
  EXPECT_EQ(u->sentinels[1], (redis_endpoint{"10.0.0.2", 26379}));
  EXPECT_EQ(u->sentinels[2], (redis_endpoint{"sentinel-c", 26381}));
  EXPECT_EQ(u->master_name, "mymaster");
  EXPECT_EQ(u->db, 2);
  EXPECT_TRUE(u->password.empty());
  EXPECT_TRUE(u->sentinel_password.empty());
  EXPECT_EQ(describe(u.value()), "mymaster@10.0.0.1:26380,10.0.0.2:26379,sentinel-c:26381/2");
  EXPECT_FALSE(parse_redis_url("redis://h:1")->is_sentinel());
}

TEST(RedisUrl, ReadsSentinelPasswordsWithEscapes) {
  auto u = parse_redis_url("sentinel://h:1/m?password=p%26w%40rd&sentinel_password=s3cret");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->password, "p&w@rd");
  EXPECT_EQ(u->sentinel_password, "s3cret");
  EXPECT_EQ(u->db, 0);
}

TEST(RedisUrl, RefusesBadSentinelUrls) {
  for (const char* bad : {
           "sentinel://",                                 // nothing
           "sentinel://h:26379",                          // no master name
           "sentinel://h:26379/",                         // empty master name
           "sentinel:///mymaster",                        // no sentinel
           "sentinel://a:1,,b:2/m",                       // empty entry
           "sentinel://a:1,/m",                           // trailing comma
           "sentinel://:26379/m",                         // port without host
           "sentinel://h:0/m",                            // port out of range
           "sentinel://h:65536/m",                        // port out of range
           "sentinel://h:26x/m",                          // not a number
           "sentinel://h/m/extra",                        // a slash in the name
           "sentinel://h/my master",                      // a space in the name
           "sentinel://h/m?db=x",                         // bad db
           "sentinel://h/m?db=-1",                        // bad db
           "sentinel://h/m?db=1&db=2",                    // db twice
           "sentinel://h/m?dbx=1",                        // unknown key
           "sentinel://h/m?db",                           // no value
           "sentinel://h/m?password=%zz",                 // bad escape
           "sentinel://h/m?password=%4",                  // short escape
           "sentinel://h/m?password=a&password=b",        // twice
           "sentinel://:pw@h/m",                          // password before the hosts: ambiguous
           "sentinel://a:1,a:1/m",                        // one sentinel twice
           "sentinels://h/m",                             // scheme
       }) {
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
  }
  std::string many = "sentinel://";
  for (int i = 0; i < 17; ++i) many.append(i ? "," : "").append("h:").append(std::to_string(1000 + i));
  auto refused = parse_redis_url(many + "/m");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error_text().find("more than 16"), std::string::npos);
  std::string long_name(201, 'n');
  EXPECT_FALSE(parse_redis_url("sentinel://h/" + long_name));
  EXPECT_TRUE(parse_redis_url("sentinel://h/" + long_name.substr(1)));
}

TEST(RedisUrl, HidesSentinelPasswordsInErrors) {
  auto u = parse_redis_urls({"redis://a:1/0", "sentinel://h:99999/m?password=s3cret&sentinel_password=t0p&db=1"});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error_text(),
            "redis URL #2 (sentinel://h:99999/m?password=***&sentinel_password=***&db=1): bad sentinel port in "
            "sentinel URL");
}

TEST(RedisUrl, MixesPlainAndSentinelShardsInOrder) {
  auto u = parse_redis_urls({"redis://127.0.0.1:6379/0", "sentinel://127.0.0.1:26379/shard1"});
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 2u);
  EXPECT_FALSE(u.value()[0].is_sentinel());
  EXPECT_TRUE(u.value()[1].is_sentinel());
  EXPECT_EQ(u.value()[1].master_name, "shard1");
}

}  // namespace
}  // namespace sb::common
