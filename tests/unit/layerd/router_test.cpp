// router_test.cpp — the peer protocol end to end inside one process: a
// DEALER on loopback plays the gateway, the router dispatches to
// membership, the Django bridge and the group hooks, and a scripted Redis
// records what reaches it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/router.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"
#include "tests/unit/layerd/fake_reply.hpp"
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


// ---- members whose consumer runs in a Django worker (worker_members.hpp) ----
// (groups without history, so a send fans out at once)

// A RENDER map (msgpack) from JSON.
std::string render_of(const nlohmann::json& j) {
  auto v = nlohmann::json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}
const proto::worker_route handler_worker{"specific.w1!a", render_of(nlohmann::json::object())};
const proto::worker_route fast_worker{"specific.w1!a", render_of({{"chat_message", {"text"}}})};

// The inbox EVALs written since `from`, as (key, decoded message).
std::vector<std::pair<std::string, wire::inbound>> inbox_writes(const fake_redis_commands& redis, std::size_t from = 0) {
  std::vector<std::pair<std::string, wire::inbound>> out;
  for (auto i : redis.named("EVAL")) {
    if (i < from || redis.calls[i].args.size() < 5 || redis.calls[i].args[2] != "1") continue;
    auto m = wire::decode_member(redis.calls[i].args[4]);
    if (m) out.emplace_back(redis.calls[i].args[3], m.value());
  }
  return out;
}

TEST_F(LayerdRouter, AHandlersEventGoesToItsWorkerFromHereAndTheGatewayHearsWhich) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, handler_worker}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "room_a", "specific.gw1!c2", std::nullopt, handler_worker}));
  join("room_a", "c3");  // no worker: its gateway forwards or renders for it
  const std::size_t before = redis.calls.size();
  gw.send(proto::group_send{"room_a", chat_event});
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_EQ(std::get<proto::group_deliver>(*m).forwarded, (std::vector<std::string>{"c1", "c2"}));
  // One message for the worker, naming both sockets, with the event unchanged.
  auto writes = inbox_writes(redis, before);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].first, "asgispecific.w1!");
  EXPECT_EQ(writes[0].second.channels, std::vector<std::string>{"specific.w1!a"});
  auto j = nlohmann::json::from_msgpack(writes[0].second.event);
  EXPECT_EQ(j["type"], "switchboard.event");
  EXPECT_EQ(j["sockets"], (nlohmann::json{"specific.gw1!c1", "specific.gw1!c2"}));
  EXPECT_EQ(j["event"], nlohmann::json::from_msgpack(chat_event));
  EXPECT_EQ(routes.counters().worker_events, 1u);
  EXPECT_EQ(routes.counters().worker_event_sockets, 2u);
}

TEST_F(LayerdRouter, AnEventItsGatewayRendersIsNotWrittenToTheWorker) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, fast_worker}));
  const std::size_t before = redis.calls.size();
  gw.send(proto::group_send{"room_a", chat_event});  // chat.message with "text": rendered
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_TRUE(std::get<proto::group_deliver>(*m).forwarded.empty());
  EXPECT_TRUE(inbox_writes(redis, before).empty());
  // The same handler without its field is the handler's to run: to the worker.
  const auto bare = common::event_from_json(R"({"type":"chat.message","other":1})").value();
  gw.send(proto::group_send{"room_a", bare});
  pump();
  m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_EQ(std::get<proto::group_deliver>(*m).forwarded, std::vector<std::string>{"c1"});
  auto writes = inbox_writes(redis, before);
  ASSERT_EQ(writes.size(), 1u);
  auto j = nlohmann::json::from_msgpack(writes[0].second.event);
  EXPECT_EQ(j["socket"], "specific.gw1!c1");  // one socket: the per-socket form
}

TEST_F(LayerdRouter, AWorkerIsForgottenOnDiscardOnAPlainAddAndWithItsGateway) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, handler_worker}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "room_b", "specific.gw1!c1", std::nullopt, handler_worker}));
  EXPECT_EQ(routes.workers().member_count(), 2u);
  gw.send(proto::group_discard{"room_a", "specific.gw1!c1"});
  pump();
  EXPECT_EQ(routes.workers().member_count(), 1u);
  join("room_b", "c1");  // the gateway restates it without a worker: it forwards for it itself
  EXPECT_EQ(routes.workers().member_count(), 0u);
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{3, "room_b", "specific.gw1!c1", std::nullopt, handler_worker}));
  routes.tick(peers::clock::now() + std::chrono::milliseconds(cfg.gateway_timeout_ms + 1000));
  EXPECT_EQ(routes.workers().member_count(), 0u);
}

TEST_F(LayerdRouter, ASyncReplacesTheGatewaysWorkers) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, handler_worker}));
  proto::sync s;
  s.groups = {{"room_a", {"specific.gw1!c1", "specific.gw1!c2"}}, {"room_b", {"specific.gw1!c3"}}};
  s.workers = {{std::nullopt, handler_worker}, {handler_worker}};
  gw.send(s);
  pump();
  EXPECT_EQ(routes.workers().member_count(), 2u);  // c2 in chat_a, c3 in chat_b; c1 has none now
  const std::size_t before = redis.calls.size();
  routes.group_send("room_a", chat_event, "chat.message");
  auto writes = inbox_writes(redis, before);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(nlohmann::json::from_msgpack(writes[0].second.event)["socket"], "specific.gw1!c2");
  gw.send(proto::sync{});
  pump();
  EXPECT_EQ(routes.workers().member_count(), 0u);
}

TEST_F(LayerdRouter, ABadWorkerRouteIsCountedAndLeavesTheMemberToItsGateway) {
  hello();
  const proto::worker_route gateway_inbox{"specific.gw1!x", render_of(nlohmann::json::object())};
  const proto::worker_route bad_render{"specific.w1!a", render_of({{"chat_message", "text"}})};
  const proto::worker_route deep_render{"specific.w1!a", render_of({{"h", {{{"a", {1}}}}}})};
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, gateway_inbox}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "room_a", "specific.gw1!c2", std::nullopt, bad_render}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{3, "room_a", "specific.gw1!c3", std::nullopt, deep_render}));
  EXPECT_EQ(routes.workers().member_count(), 0u);
  EXPECT_EQ(routes.workers().counters().routes_refused, 3u);
  EXPECT_EQ(members.member_count(), 3u);  // members all the same
  const std::size_t before = redis.calls.size();
  gw.send(proto::group_send{"room_a", chat_event});
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_TRUE(std::get<proto::group_deliver>(*m).forwarded.empty());
  EXPECT_TRUE(inbox_writes(redis, before).empty());
}

TEST_F(LayerdRouter, AWorkerEventThatCannotBeWrittenIsCountedPerSocket) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, handler_worker}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "room_a", "specific.gw1!c2", std::nullopt, handler_worker}));
  const std::size_t before = redis.calls.size();
  routes.group_send("room_a", chat_event, "chat.message");
  std::optional<std::size_t> eval;
  for (auto i : redis.named("EVAL")) {
    if (i >= before && redis.calls[i].args[3] == "asgispecific.w1!") eval = i;
  }
  ASSERT_TRUE(eval);
  redis.answer(*eval, owned_reply::integer(1).get());  // the capacity script: full
  EXPECT_EQ(routes.counters().worker_event_sockets_dropped, 2u);
}

TEST_F(LayerdRouter, RestatingAMemberWithItsWorkerIsNoNewJoin) {
  hello();
  join("notification_u1", "c1");
  const auto replays = redis.named("ZRANGEBYSCORE").size();  // the join's pending notifications
  ASSERT_EQ(replays, 1u);
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "notification_u1", "specific.gw1!c1", std::nullopt, handler_worker}));
  EXPECT_EQ(redis.named("ZRANGEBYSCORE").size(), replays);  // not replayed again
  EXPECT_EQ(routes.workers().member_count(), 1u);
  EXPECT_EQ(members.member_count(), 1u);
}

TEST_F(LayerdRouter, MembersOfAnotherSpecInTheSameGroupAreTakenOrSkippedByTheirOwnSpec) {
  hello();
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{1, "room_a", "specific.gw1!c1", std::nullopt, fast_worker}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{2, "room_a", "specific.gw1!c2", std::nullopt, handler_worker}));
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{3, "room_a", "specific.gw1!c3", std::nullopt, fast_worker}));
  const std::size_t before = redis.calls.size();
  gw.send(proto::group_send{"room_a", chat_event});  // rendered for c1 and c3, not for c2
  pump();
  auto m = gw.receive();
  ASSERT_TRUE(m && std::holds_alternative<proto::group_deliver>(*m));
  EXPECT_EQ(std::get<proto::group_deliver>(*m).forwarded, std::vector<std::string>{"c2"});
  auto writes = inbox_writes(redis, before);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(nlohmann::json::from_msgpack(writes[0].second.event)["socket"], "specific.gw1!c2");
  // c2 restated with the fast spec moves to that bucket: nothing is written any more
  ASSERT_TRUE(exchange<proto::ack>(proto::group_add{4, "room_a", "specific.gw1!c2", std::nullopt, fast_worker}));
  EXPECT_EQ(routes.workers().member_count(), 3u);
  const std::size_t after = redis.calls.size();
  routes.group_send("room_a", chat_event, "chat.message");
  EXPECT_TRUE(inbox_writes(redis, after).empty());
}

}  // namespace
}  // namespace sb::layerd::testing
