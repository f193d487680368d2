// sentinel_master_test.cpp — which SENTINEL MASTER answers name a master to use.
#include <gtest/gtest.h>

#include "common/sentinel_master.hpp"

namespace sb::common {
namespace {

using fields = std::vector<std::pair<std::string_view, std::string_view>>;

TEST(SentinelMaster, TakesAMasterThatIsUp) {
  auto m = usable_sentinel_master(
      fields{{"name", "mymaster"}, {"ip", "10.0.0.5"}, {"port", "6380"}, {"runid", "x"}, {"flags", "master"}});
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (redis_endpoint{"10.0.0.5", 6380}));
}

TEST(SentinelMaster, SkipsAMasterThatIsDownOrNotAMaster) {
  // As channels_redis' Sentinel pool: s_down or o_down means ask the next sentinel.
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}, {"flags", "s_down,master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}, {"flags", "master,o_down"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}, {"flags", "slave"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}, {"flags", "masterx"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}}));
  EXPECT_TRUE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "1"}, {"flags", "disconnected,master"}}));
}

TEST(SentinelMaster, RefusesAMissingOrBadAddress) {
  EXPECT_FALSE(usable_sentinel_master(fields{{"port", "6379"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", ""}, {"port", "6379"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "0"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "65536"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{{"ip", "h"}, {"port", "63x"}, {"flags", "master"}}));
  EXPECT_FALSE(usable_sentinel_master(fields{}));
}

}  // namespace
}  // namespace sb::common
