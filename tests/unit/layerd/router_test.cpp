// router_test.cpp — the peer protocol end to end inside one process: a
// DEALER on loopback plays the gateway, the router dispatches to
// membership, the Django bridge and the group hooks, and a scripted Redis
// records what reaches it.
#include <gtest/gtest.h>

#include "common/event.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/router.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"
#include "tests/unit/layerd/test_gateway.hpp"

namespace sb::layerd::testing {
namespace {

const std::string chat_event = common::event_from_json(R"({"type":"chat.message","text":"hi"})").value();
const std::string notify_event = common::event_from_json(R"({"type":"notify","text":"new"})").value();

class LayerdRouter : public ::testing::Test {
 protected:
  LayerdRouter() { members.attach(pending); }

  // Delivers what the gateway sent to the router.
  void pump() {
    if (test_gateway::readable(peers_.socket())) routes.on_readable();
  }
  template <class Message>
  std::optional<Message> exchange(const proto::message& m) {
    gw.send(m);
    pump();
    auto answer = gw.receive();
    if (!answer || !std::holds_alternative<Message>(*answer)) return std::nullopt;
    return std::get<Message>(*answer);
  }
  void hello(proto::peer_role role = proto::peer_role::gateway) {
    ASSERT_TRUE(exchange<proto::welcome>(proto::hello{1, 1, "gw1", role}));
  }
  void join(const std::string& group, const std::string& conn) {
    ASSERT_TRUE(exchange<proto::ack>(proto::group_add{7, group, "specific.gw1!" + conn}));
  }

  layerd_config cfg;
  fake_redis_commands redis;
  peers peers_{"tcp://127.0.0.1:*"};
  membership members{redis, cfg.prefix, cfg.group_expiry_s};
  pending_notifications pending{cfg, redis, peers_};
  django_bridge bridge{cfg, redis, peers_, pending};
  room_history history{cfg, redis};
  router routes{cfg, peers_, members, bridge, history};
  test_gateway gw{peers_.endpoint(), "gw1"};
};

TEST_F(LayerdRouter, AGatewayMustSayHelloBeforeJoiningAGroup) {
  auto e = exchange<proto::error>(proto::group_add{1, "chat_a", "specific.gw1!c1"});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "unknown_gateway");
  EXPECT_EQ(e->request, 1u);
  EXPECT_TRUE(redis.calls.empty());
}

TEST_F(LayerdRouter, AJoinIsMirroredToRedisInChannelsRedisLayoutAndAcknowledged) {
  hello();
  join("chat_a", "c1");
  ASSERT_EQ(redis.named("ZADD").size(), 1u);
  const auto& zadd = redis.calls[redis.named("ZADD")[0]].args;
  EXPECT_EQ(zadd[1], "asgi:group:chat_a");
  EXPECT_EQ(zadd[3], "specific.gw1!c1");
  EXPECT_EQ(redis.calls[redis.named("EXPIRE")[0]].args, (redis_commands::argv{"EXPIRE", "asgi:group:chat_a", "86400"}));
  EXPECT_TRUE(redis.named("HSET").empty());  // not a notification group
  EXPECT_EQ(members.member_count(), 1u);
}

TEST_F(LayerdRouter, AJoinToANotificationGroupGetsItsPendingNotifications) {
  hello();
  join("notification_u1", "c1");
  ASSERT_EQ(redis.named("HSET").size(), 1u);
  EXPECT_EQ(redis.calls[redis.named("HSET")[0]].args,
            (redis_commands::argv{"HSET", "asgi:notification-routes:gw1", "c1", "notification_u1"}));
  ASSERT_EQ(redis.named("ZRANGEBYSCORE").size(), 1u);
  const auto i = redis.named("ZRANGEBYSCORE")[0];
  EXPECT_EQ(redis.calls[i].args[1], "asgi:pending:notification_u1");
  redis.answer(i, owned_reply::strings({std::string(wire::prefix_bytes, 't') + notify_event}).get());
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::deliver>(*m));
  EXPECT_EQ(std::get<proto::deliver>(*m).targets, std::vector<std::string>{"c1"});
  EXPECT_EQ(std::get<proto::deliver>(*m).event, notify_event);
}

TEST_F(LayerdRouter, ASyncRestatesMembersWithoutReplayingPendingNotifications) {
  hello();
  gw.send(proto::sync{{{"notification_u1", {"specific.gw1!c1"}}}});
  pump();
  EXPECT_EQ(members.member_count(), 1u);
  EXPECT_EQ(redis.named("HSET").size(), 1u);
  EXPECT_TRUE(redis.named("ZRANGEBYSCORE").empty());
}

TEST_F(LayerdRouter, AGroupSendGoesOncePerGatewayThenToDjangoAndTheHooks) {
  hello();
  join("notification_u1", "c1");
  join("notification_u1", "c2");
  gw.send(proto::group_send{"notification_u1", notify_event});
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_EQ(std::get<proto::group_deliver>(*m).event, notify_event);
  EXPECT_FALSE(gw.receive(100));  // one per gateway, not per member
  EXPECT_EQ(routes.counters().delivers_out, 1u);
  EXPECT_EQ(redis.named("ZCARD").size(), 1u);  // the Django bridge checks the group
  const auto evals = redis.named("EVAL");
  ASSERT_EQ(evals.size(), 1u);  // the pending notification is kept
  EXPECT_EQ(redis.calls[evals[0]].args[3], "asgi:pending:notification_u1");
}

TEST_F(LayerdRouter, OnlyNotifyEventsToNotificationGroupsAreKept) {
  hello();
  join("chat_a", "c1");
  routes.group_send("chat_a", notify_event, "notify");
  routes.group_send("notification_u1", chat_event, "chat.message");
  EXPECT_TRUE(redis.named("EVAL").empty());
}

TEST_F(LayerdRouter, AClientMayPublishButNotJoin) {
  hello(proto::peer_role::client);
  auto e = exchange<proto::error>(proto::group_add{3, "chat_a", "specific.gw1!c1"});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "bad_message");
  EXPECT_TRUE(exchange<proto::heartbeat>(proto::heartbeat{}));
}

TEST_F(LayerdRouter, AnUnexpectedKindIsRefusedAndCounted) {
  hello();
  auto e = exchange<proto::error>(proto::ack{1});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "bad_message");
  EXPECT_EQ(routes.counters().malformed, 1u);
}

TEST_F(LayerdRouter, ASilentGatewayIsForgottenWithItsMembers) {
  hello();
  join("chat_a", "c1");
  routes.tick(peers::clock::now() + std::chrono::milliseconds(cfg.gateway_timeout_ms + 1000));
  EXPECT_EQ(routes.counters().gateways_expired, 1u);
  EXPECT_EQ(members.member_count(), 0u);
  EXPECT_FALSE(peers_.is_gateway("gw1"));
  ASSERT_EQ(redis.named("ZREM").size(), 1u);
  EXPECT_EQ(redis.calls[redis.named("ZREM")[0]].args,
            (redis_commands::argv{"ZREM", "asgi:group:chat_a", "specific.gw1!c1"}));
}

// The EVAL that reads a room's last history id (room_history.hpp).
std::optional<std::size_t> history_load(const fake_redis_commands& redis) {
  for (auto i : redis.named("EVAL")) {
    if (redis.calls[i].args[1].find("XINFO") != std::string::npos && redis.calls[i].done) return i;
  }
  return std::nullopt;
}

TEST_F(LayerdRouter, AChatMessageIsStampedBeforeItsFanOutAndItsAckWaitsForIt) {
  hello();
  join("chat_a", "c1");
  gw.send(proto::group_send{"chat_a", chat_event, 1, 1});
  pump();
  EXPECT_FALSE(gw.receive(100));  // waiting for the stream's last id: no fan-out, no SEND_ACK yet
  const auto load = history_load(redis);
  ASSERT_TRUE(load);
  const auto none = owned_reply::nil();
  redis.answer(*load, none.get());
  auto d = gw.receive();
  ASSERT_TRUE(d && std::holds_alternative<proto::group_deliver>(*d));
  const auto shown = common::browser_frame_for_event(std::get<proto::group_deliver>(*d).event).value();
  EXPECT_NE(shown.find("\"id\":\""), std::string::npos) << shown;
  EXPECT_EQ(shown.find("\"ts\":"), std::string::npos) << shown;  // the id carries the time
  auto ack = gw.receive();
  ASSERT_TRUE(ack && std::holds_alternative<proto::send_ack>(*ack));
  EXPECT_EQ(std::get<proto::send_ack>(*ack).seq, 1u);
  ASSERT_EQ(redis.named("XADD").size(), 1u);
  // The next one goes at once, acked with its batch.
  gw.send(proto::group_send{"chat_a", chat_event, 2, 2});
  pump();
  auto d2 = gw.receive();
  ASSERT_TRUE(d2 && std::holds_alternative<proto::group_deliver>(*d2));
  auto ack2 = gw.receive();
  ASSERT_TRUE(ack2 && std::holds_alternative<proto::send_ack>(*ack2));
  EXPECT_EQ(std::get<proto::send_ack>(*ack2).seq, 2u);
}

TEST_F(LayerdRouter, HistoryGetIsAnsweredFromTheStreamOrSaysOff) {
  hello();
  gw.send(proto::history_get{5, "chat_a", 2, ""});
  pump();
  const auto load = history_load(redis);
  ASSERT_TRUE(load);
  const auto none = owned_reply::nil();
  redis.answer(*load, none.get());
  const auto rev = redis.named("XREVRANGE");
  ASSERT_EQ(rev.size(), 1u);
  std::vector<owned_reply::ptr> entries;
  for (const char* id : {"7-1", "7-0"}) {
    std::vector<owned_reply::ptr> entry;
    entry.push_back(owned_reply::string(id));
    entry.push_back(owned_reply::strings({"e", chat_event}));
    entries.push_back(owned_reply::array(std::move(entry)));
  }
  const auto reply = owned_reply::array(std::move(entries));
  redis.answer(rev[0], reply.get());
  auto h = gw.receive();
  ASSERT_TRUE(h && std::holds_alternative<proto::history>(*h));
  const auto& got = std::get<proto::history>(*h);
  EXPECT_EQ(got.request, 5u);
  EXPECT_TRUE(got.complete);
  ASSERT_EQ(got.events.size(), 2u);
  EXPECT_NE(common::browser_frame_for_event(got.events[0]).value().find("\"id\":\"7-0\""), std::string::npos);
  // A group without history: at once, incomplete and empty.
  auto off = exchange<proto::history>(proto::history_get{6, "notification_u1", 2, "1-0"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->complete);
  EXPECT_TRUE(off->events.empty());
  auto bad = exchange<proto::error>(proto::history_get{7, "bad name!", 2, ""});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->code, "bad_name");
  EXPECT_EQ(bad->request, 7u);
}

}  // namespace
}  // namespace sb::layerd::testing
