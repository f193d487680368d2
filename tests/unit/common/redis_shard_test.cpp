// redis_shard_test.cpp — channels_redis' consistent hash over several Redis
// hosts (docs/django.md, Several Redis hosts), checked against a table
// recorded from the library itself.
#include <gtest/gtest.h>

#include <string>

#include "common/redis_shard.hpp"

namespace sb::common {
namespace {

TEST(RedisShard, Crc32IsZlibs) {
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc32("chat_lobby"), 0xcd99b86cu);
  EXPECT_EQ(crc32("chat_room1"), 0xe50ed7b1u);
  EXPECT_EQ(crc32("plainchan"), 0x0c6d66acu);
  EXPECT_EQ(crc32("a"), 0xe8b7be43u);
  EXPECT_EQ(crc32("test-group.1"), 0xee08928eu);
}

TEST(RedisShard, MatchesTheRecordedTable) {
  struct row {
    const char* name;
    std::size_t n2, n3, n4;
  };
  const row rows[] = {
      {"chat_lobby", 1, 1, 2}, {"chat_room1", 0, 1, 1}, {"plainchan", 0, 1, 1},
      {"a", 1, 2, 3},          {"test-group.1", 0, 0, 0},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(redis_shard(r.name, 2), r.n2) << r.name;
    EXPECT_EQ(redis_shard(r.name, 3), r.n3) << r.name;
    EXPECT_EQ(redis_shard(r.name, 4), r.n4) << r.name;
  }
  // Two gateway inbox keys whose hosts were recorded from channels_redis.
  EXPECT_EQ(redis_shard("specific.0f1e2d3c4b5a69788796a5b4c3d2e1f0!", 2), 1u);
  EXPECT_EQ(redis_shard("specific.a1b2c3d4e5f60718293a4b5c6d7e8f90!", 2), 0u);
}

TEST(RedisShard, OneHostIsAlwaysShardZero) {
  EXPECT_EQ(redis_shard("chat_lobby", 1), 0u);
  EXPECT_EQ(redis_shard("a", 1), 0u);
  EXPECT_EQ(redis_shard("", 1), 0u);
}

TEST(RedisShard, UsesTheDoubleFormWhereTheIntegerFormDiverges) {
  // "g5622" has crc32 & 0xFFF == 2048: with 186 hosts channels_redis'
  // int(2048 / (4096 / 186)) is 92, while (2048 * 186) >> 12 is 93.
  ASSERT_EQ(crc32("g5622") & 0xFFF, 2048u);
  EXPECT_EQ(redis_shard("g5622", 186), 92u);
  EXPECT_NE(redis_shard("g5622", 186), (2048u * 186u) >> 12);
}

TEST(RedisShard, AlwaysFallsInsideTheRing) {
  for (std::size_t n = 2; n <= 300; ++n) {
    for (int i = 0; i < 64; ++i) {
      EXPECT_LT(redis_shard("name" + std::to_string(i), n), n);
    }
  }
}

}  // namespace
}  // namespace sb::common
