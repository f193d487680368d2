// presence_test.cpp — layerd's presence through the real router and
// membership: a DEALER on loopback plays the gateway (GROUP_ADD with
// users, SYNC), presence's DELIVERs come back on it. Windows are driven by
// calling tick() with a chosen time, so nothing here waits for a clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "layerd/presence.hpp"
#include "layerd/router.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"
#include "tests/unit/layerd/test_gateway.hpp"

namespace sb::layerd::testing {
namespace {

using clock = presence::clock;

layerd_config config(int list_max) {
  layerd_config c;
  c.presence_debounce_ms = 1000;
  c.presence_list_max = list_max;
  c.gateway_timeout_ms = 200;  // only AForgottenGatewaysSocketsLeave lets a gateway fall silent
  return c;
}

class LayerdPresence : public ::testing::Test {
 protected:
  explicit LayerdPresence(int list_max = 100) : cfg(config(list_max)) {
    members.attach(pending);
    members.attach(pres);
    routes.attach_presence(pres);
    gw.send(proto::hello{1, 4, "gw1"});
    pump();
    EXPECT_TRUE(gw.receive());  // WELCOME
  }

  void pump() {
    if (test_gateway::readable(peers_.socket())) routes.on_readable();
  }
  static proto::presence_user user(const std::string& id, bool watch = false) {
    return {id, "name of " + id, false, watch};
  }
  // Joins conn as `u`; returns the snapshot DELIVER's event as JSON when one came before the ACK.
  std::optional<nlohmann::json> join(const std::string& group, const std::string& conn, const proto::presence_user& u) {
    gw.send(proto::group_add{7, group, "specific.gw1!" + conn, u});
    pump();
    std::optional<nlohmann::json> snapshot;
    for (int i = 0; i < 2; ++i) {
      auto m = gw.receive();
      if (!m) break;
      if (auto* d = std::get_if<proto::deliver>(&*m)) {
        EXPECT_EQ(d->targets, std::vector<std::string>{conn});
        snapshot = nlohmann::json::from_msgpack(d->event);
        continue;
      }
      EXPECT_TRUE(std::holds_alternative<proto::ack>(*m));
      break;
    }
    return snapshot;
  }
  void leave(const std::string& group, const std::string& conn) {
    gw.send(proto::group_discard{group, "specific.gw1!" + conn});
    pump();
  }
  // Ends every open window; the change DELIVERs that came (event JSON, targets).
  std::vector<std::pair<nlohmann::json, std::vector<std::string>>> flush() {
    pres.tick(clock::now() + std::chrono::seconds(5));
    std::vector<std::pair<nlohmann::json, std::vector<std::string>>> out;
    while (auto m = gw.receive(100)) {
      if (auto* d = std::get_if<proto::deliver>(&*m)) out.emplace_back(nlohmann::json::from_msgpack(d->event), d->targets);
    }
    return out;
  }

  layerd_config cfg;
  fake_redis_commands redis;
  peers peers_{"tcp://127.0.0.1:*"};
  membership members{redis, cfg.prefix, cfg.group_expiry_s};
  pending_notifications pending{cfg, redis, peers_};
  presence pres{cfg, peers_};
  django_bridge bridge{cfg, redis, peers_, pending};
  room_history history{cfg, redis};
  router routes{cfg, peers_, members, bridge, history};
  test_gateway gw{peers_.endpoint(), "gw1"};
};

TEST_F(LayerdPresence, TheSnapshotComesBeforeTheAckAndHoldsEveryoneAndTheJoiner) {
  EXPECT_FALSE(join("chat_a", "1", user("ann")));  // not watching: no snapshot
  EXPECT_FALSE(join("chat_a", "2", user("bob")));
  auto snap = join("chat_a", "3", user("cy", true));
  ASSERT_TRUE(snap);
  EXPECT_EQ(*snap, nlohmann::json::parse(R"({"type":"presence","snapshot":true,"count":3,"users":[
    {"id":"ann","name":"name of ann"},{"id":"bob","name":"name of bob"},{"id":"cy","name":"name of cy"}]})"));
}

TEST_F(LayerdPresence, TabsCountOnceAndTheWindowSendsOnlyTheNetChangeToWatchers) {
  join("chat_a", "w", user("w", true));
  flush();
  join("chat_a", "1", user("ann"));
  join("chat_a", "2", user("ann"));  // a second tab
  join("chat_a", "3", user("bob"));
  leave("chat_a", "3");              // came and went inside the window
  auto got = flush();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, std::vector<std::string>{"w"});  // the watcher only
  EXPECT_EQ(got[0].first, nlohmann::json::parse(
                              R"({"type":"presence","joined":[{"id":"ann","name":"name of ann"}],"left":[],"count":2})"));
  leave("chat_a", "1");  // one tab of two: nobody left
  EXPECT_TRUE(flush().empty());
  leave("chat_a", "2");
  got = flush();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first["left"], nlohmann::json::parse(R"([{"id":"ann","name":"name of ann"}])"));
  EXPECT_EQ(got[0].first["count"], 1);
}

TEST_F(LayerdPresence, ASocketRestatedAsSomeoneElseMovesItsTab) {
  join("chat_a", "1", user("ann"));
  join("chat_a", "1", user("ann"));  // a repeated join: still one tab
  join("chat_a", "1", user("bob"));  // the same socket as another user: ann's tab goes
  auto st = pres.state(1, "chat_a");
  ASSERT_EQ(st.count, 1u);
  EXPECT_EQ(st.users[0].id, "bob");
  leave("chat_a", "1");
  EXPECT_EQ(pres.state(2, "chat_a").count, 0u);
}

TEST_F(LayerdPresence, OneWindowPerGroupNotPerEvent) {
  join("chat_a", "w", user("w", true));
  flush();
  for (int i = 0; i < 50; ++i) join("chat_a", "c" + std::to_string(i), user("u" + std::to_string(i)));
  // Not yet: the window is still open.
  pres.tick(clock::now());
  EXPECT_FALSE(gw.receive(50));
  auto got = flush();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first["joined"].size(), 50u);
  EXPECT_EQ(pres.counters().changes_sent, 2u);
}

TEST_F(LayerdPresence, ASyncCountsSilentlyAndAMovedGroupIsForgottenSilently) {
  proto::sync s;
  s.groups = {{"chat_a", {"specific.gw1!1", "specific.gw1!2", "specific.gw1!3"}}};
  s.users = {{user("ann", true), user("ann"), std::nullopt}};
  gw.send(s);
  pump();
  EXPECT_TRUE(flush().empty());  // no snapshot, no event
  auto st = pres.state(5, "chat_a");
  EXPECT_EQ(st.count, 1u);
  ASSERT_EQ(st.users.size(), 1u);
  EXPECT_EQ(st.users[0].id, "ann");
  proto::sync moved;
  moved.moved = {"chat_a"};
  gw.send(moved);
  pump();
  EXPECT_TRUE(flush().empty());
  EXPECT_EQ(pres.state(6, "chat_a").count, 0u);
  EXPECT_EQ(pres.group_count(), 0u);
}

TEST_F(LayerdPresence, PresenceGetAnswersFromTheRouterAndRefusesBadNames) {
  join("chat_a", "1", user("ann"));
  gw.send(proto::presence_get{9, "chat_a"});
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::presence_state>(*m));
  EXPECT_EQ(std::get<proto::presence_state>(*m).request, 9u);
  EXPECT_EQ(std::get<proto::presence_state>(*m).count, 1u);
  gw.send(proto::presence_get{10, "no room!"});
  pump();
  m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::error>(*m));
  EXPECT_EQ(std::get<proto::error>(*m).code, "bad_name");
  EXPECT_EQ(std::get<proto::error>(*m).request, 10u);
  // a peer that never said HELLO is not answered with the room
  test_gateway stranger{peers_.endpoint(), "nobody"};
  stranger.send(proto::presence_get{11, "chat_a"});
  pump();
  m = stranger.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::error>(*m));
  EXPECT_EQ(std::get<proto::error>(*m).code, "unknown_gateway");
  EXPECT_EQ(std::get<proto::error>(*m).request, 11u);
}

TEST_F(LayerdPresence, AForgottenGatewaysSocketsLeave) {
  join("chat_a", "1", user("ann"));
  flush();
  test_gateway other{peers_.endpoint(), "gw2"};
  other.send(proto::hello{1, 4, "gw2"});
  pump();
  ASSERT_TRUE(other.receive());
  other.send(proto::group_add{1, "chat_a", "specific.gw2!9", user("w", true)});
  pump();
  ASSERT_TRUE(other.receive());  // snapshot
  ASSERT_TRUE(other.receive());  // ack
  pres.tick(clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(other.receive());  // w's own join
  // gw1 falls silent past the gateway timeout while gw2 keeps talking
  std::this_thread::sleep_for(std::chrono::milliseconds(cfg.gateway_timeout_ms + 100));
  other.send(proto::heartbeat{});
  pump();
  routes.tick(clock::now());
  pres.tick(clock::now() + std::chrono::seconds(10));
  std::optional<proto::message> m;
  for (int i = 0; i < 3 && !(m && std::holds_alternative<proto::deliver>(*m)); ++i) m = other.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::deliver>(*m));
  const auto ev = nlohmann::json::from_msgpack(std::get<proto::deliver>(*m).event);
  EXPECT_EQ(ev["left"], nlohmann::json::parse(R"([{"id":"ann","name":"name of ann"}])"));
  EXPECT_EQ(ev["count"], 1);
  // gw1 comes back and restates ann: the watcher saw her leave, so it hears her return.
  gw.send(proto::hello{1, 4, "gw1"});
  pump();
  proto::sync s;
  s.groups = {{"chat_a", {"specific.gw1!1"}}};
  s.users = {{user("ann")}};
  gw.send(s);
  pump();
  pres.tick(clock::now() + std::chrono::seconds(20));
  m.reset();
  for (int i = 0; i < 3 && !(m && std::holds_alternative<proto::deliver>(*m)); ++i) m = other.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::deliver>(*m));
  const auto back = nlohmann::json::from_msgpack(std::get<proto::deliver>(*m).event);
  EXPECT_EQ(back["joined"], nlohmann::json::parse(R"([{"id":"ann","name":"name of ann"}])"));
  EXPECT_EQ(back["count"], 2);
}

class LayerdPresenceBigRoom : public LayerdPresence {
 protected:
  LayerdPresenceBigRoom() : LayerdPresence(2) {}
};

TEST_F(LayerdPresenceBigRoom, AboveTheListMaxOnlyCountsAreSent) {
  join("chat_a", "1", user("ann"));
  join("chat_a", "2", user("bob"));
  auto snap = join("chat_a", "3", user("cy", true));
  ASSERT_TRUE(snap);
  EXPECT_EQ(*snap, nlohmann::json::parse(R"({"type":"presence","snapshot":true,"count":3})"));
  auto got = flush();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, nlohmann::json::parse(R"({"type":"presence","count":3})"));
  const auto st = pres.state(1, "chat_a");
  EXPECT_EQ(st.count, 3u);
  EXPECT_EQ(st.users.size(), 2u);
  EXPECT_TRUE(st.truncated);
}

}  // namespace
}  // namespace sb::layerd::testing
