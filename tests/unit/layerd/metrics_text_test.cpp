// metrics_text_test.cpp — /metrics names each degraded state of the Django
// bridge on its own: a full backlog is not counted as a full inbox.
#include <gtest/gtest.h>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "layerd/metrics_text.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"

namespace sb::layerd::testing {
namespace {

class MetricsText : public ::testing::Test {
 protected:
  MetricsText() { members.attach(pending); }

  layerd_config cfg;
  fake_redis_commands redis;
  redis_ring ring{cfg.redis_hosts};  // never connected: only its counters are read
  peers peers_{"tcp://127.0.0.1:*"};
  membership members{redis, cfg.prefix, cfg.group_expiry_s};
  pending_notifications pending{cfg, redis, peers_};
  django_bridge bridge{cfg, redis, peers_, pending};
  room_history history{cfg, redis};
  router routes{cfg, peers_, members, bridge, history};
  metrics_text metrics{peers_, routes, members, bridge, ring, history};
};

TEST_F(MetricsText, ABacklogDropCountsAsABacklogDropNotAsAFullInbox) {
  const auto event = common::event_from_json(R"({"type":"chat.message"})").value();
  for (std::size_t i = 0; i <= common::limits::max_django_backlog; ++i) bridge.send("chat_a", event);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# HELP switchboard_layerd_django_backlog_dropped_total "), std::string::npos);
  EXPECT_NE(text.find("# TYPE switchboard_layerd_django_backlog_dropped_total counter"), std::string::npos);
  EXPECT_NE(text.find("\nswitchboard_layerd_django_backlog_dropped_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nswitchboard_layerd_django_full_total 0\n"), std::string::npos);
}

TEST_F(MetricsText, KeepsTheMetricNamesDashboardsUse) {
  const std::string text = metrics.render();
  for (const char* name : {"switchboard_layerd_deliver_drops_total", "switchboard_layerd_django_full_total",
                           "switchboard_layerd_django_written_total", "switchboard_layerd_group_sends_total",
                           "switchboard_layerd_group_send_seconds_count", "switchboard_layerd_redis_shard_up"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
}

TEST(MetricsTextSentinel, ShowsEachSentinelShardsMasterSwitchesAndSentinels) {
  layerd_config cfg;
  cfg.redis_hosts = {common::parse_redis_url("redis://127.0.0.1:1/0").value(),
                     common::parse_redis_url("sentinel://127.0.0.1:2,127.0.0.1:3/mymaster?db=4").value()};
  fake_redis_commands redis;
  redis_ring ring{cfg.redis_hosts};  // never ticked: no connection, no master yet
  peers peers_{"tcp://127.0.0.1:*"};
  membership members{redis, cfg.prefix, cfg.group_expiry_s};
  pending_notifications pending{cfg, redis, peers_};
  django_bridge bridge{cfg, redis, peers_, pending};
  room_history history{cfg, redis};
  router routes{cfg, peers_, members, bridge, history};
  metrics_text metrics{peers_, routes, members, bridge, ring, history};
  const std::string text = metrics.render();
  const std::string shard = R"({shard="1",address="mymaster@127.0.0.1:2,127.0.0.1:3/4")";
  EXPECT_NE(text.find("\nswitchboard_layerd_redis_master_switches_total 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nswitchboard_layerd_redis_shard_master" + shard + R"(,master=""} 0)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nswitchboard_layerd_redis_shard_sentinels_up" + shard + "} 0"), std::string::npos);
  EXPECT_NE(text.find("\nswitchboard_layerd_redis_shard_master_switches_total" + shard + "} 0"), std::string::npos);
  // The plain shard has no Sentinel series.
  EXPECT_EQ(text.find(R"(switchboard_layerd_redis_shard_master{shard="0")"), std::string::npos);
  EXPECT_NE(text.find(R"(switchboard_layerd_redis_shard_up{shard="0",address="127.0.0.1:1/0"} 0)"), std::string::npos);
}

}  // namespace
}  // namespace sb::layerd::testing
