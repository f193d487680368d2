// django_bridge_test.cpp — the Django bridge against a scripted Redis:
// the ZCARD member-check coalescing, the writes to Django inboxes, the
// counters of its degraded states, and popped inbox messages reaching a
// gateway (a DEALER on loopback).
#include <gtest/gtest.h>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/django_bridge.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"
#include "tests/unit/layerd/test_gateway.hpp"

namespace sb::layerd::testing {
namespace {

const std::string chat_event = common::event_from_json(R"({"type":"chat.message","text":"hi"})").value();

class DjangoBridge : public ::testing::Test {
 protected:
  // One send to chat_a whose check finds the Django consumer daphne.1!abc;
  // leaves one EVAL written.
  void learn_members() {
    bridge.send("chat_a", chat_event);
    redis.answer(redis.named("ZCARD").back(), owned_reply::integer(1).get());
    redis.answer(redis.named("ZRANGE").back(), owned_reply::strings({"daphne.1!abc"}).get());
    ASSERT_EQ(redis.named("EVAL").size(), 1u);
  }

  layerd_config cfg;
  fake_redis_commands redis;
  peers gateways{"tcp://127.0.0.1:*"};
  pending_notifications pending{cfg, redis, gateways};
  django_bridge bridge{cfg, redis, gateways, pending};
};

TEST_F(DjangoBridge, AGroupSendReadsTheMembersOnceThenOnlyCountsThem) {
  learn_members();
  const auto& first = redis.calls[redis.named("ZCARD")[0]].args;
  EXPECT_EQ(first, (redis_commands::argv{"ZCARD", "asgi:group:chat_a"}));
  const auto& eval = redis.calls[redis.named("EVAL")[0]].args;
  EXPECT_EQ(eval[2], "1");
  EXPECT_EQ(eval[3], "asgidaphne.1!");
  EXPECT_EQ(redis.calls[redis.named("ZREMRANGEBYSCORE")[0]].args[1], "asgidaphne.1!");

  bridge.send("chat_a", chat_event);
  ASSERT_EQ(redis.named("ZCARD").size(), 2u);
  redis.answer(redis.named("ZCARD")[1], owned_reply::integer(1).get());
  EXPECT_EQ(redis.named("ZRANGE").size(), 1u);  // same size: the list is still good
  EXPECT_EQ(redis.named("EVAL").size(), 2u);
}

TEST_F(DjangoBridge, SendsArrivingDuringACheckShareTheNextCheck) {
  learn_members();
  bridge.send("chat_a", chat_event);  // asks ZCARD #2
  bridge.send("chat_a", chat_event);  // wait for #3
  bridge.send("chat_a", chat_event);
  ASSERT_EQ(redis.named("ZCARD").size(), 2u);
  redis.answer(redis.named("ZCARD")[1], owned_reply::integer(1).get());
  EXPECT_EQ(redis.named("EVAL").size(), 2u);
  ASSERT_EQ(redis.named("ZCARD").size(), 3u);
  redis.answer(redis.named("ZCARD")[2], owned_reply::integer(1).get());
  EXPECT_EQ(redis.named("EVAL").size(), 4u);
  EXPECT_EQ(redis.named("ZCARD").size(), 3u);  // nothing left waiting
}

TEST_F(DjangoBridge, WaitingSendsAreCheckedAgainAfterAFailedCheck) {
  learn_members();
  bridge.send("chat_a", chat_event);  // lost with its check
  bridge.send("chat_a", chat_event);  // waits, then gets a check of its own
  redis.answer(redis.named("ZCARD")[1], nullptr);
  EXPECT_EQ(redis.named("EVAL").size(), 1u);
  ASSERT_EQ(redis.named("ZCARD").size(), 3u);
  redis.answer(redis.named("ZCARD")[2], owned_reply::integer(1).get());
  EXPECT_EQ(redis.named("EVAL").size(), 2u);
}

TEST_F(DjangoBridge, AChangedMemberCountReadsTheMembersAgain) {
  learn_members();
  bridge.send("chat_a", chat_event);
  redis.answer(redis.named("ZCARD")[1], owned_reply::integer(2).get());
  ASSERT_EQ(redis.named("ZRANGE").size(), 2u);
  redis.answer(redis.named("ZRANGE")[1], owned_reply::strings({"daphne.1!abc", "daphne.2!xyz"}).get());
  const auto& eval = redis.calls[redis.named("EVAL").back()].args;
  EXPECT_EQ(eval[2], "2");  // one inbox key per Django process
}

TEST_F(DjangoBridge, SwitchboardSocketsInTheGroupAreNotWrittenAsDjangoConsumers) {
  gateways.hello_gateway("gw1", peers::clock::now());
  bridge.send("chat_a", chat_event);
  redis.answer(redis.named("ZCARD")[0], owned_reply::integer(2).get());
  redis.answer(redis.named("ZRANGE")[0], owned_reply::strings({"specific.gw1!c1", "daphne.1!abc"}).get());
  const auto& eval = redis.calls[redis.named("EVAL")[0]].args;
  EXPECT_EQ(eval[2], "1");
  EXPECT_EQ(eval[3], "asgidaphne.1!");
}

TEST_F(DjangoBridge, AFullBacklogDropsTheOldestAndCountsItOnItsOwn) {
  for (std::size_t i = 0; i <= common::limits::max_django_backlog; ++i) bridge.send("chat_a", chat_event);
  EXPECT_EQ(redis.named("ZCARD").size(), 1u);
  EXPECT_EQ(bridge.counters().backlog_dropped, 1u);
  EXPECT_EQ(bridge.counters().inbox_full, 0u);
}

TEST_F(DjangoBridge, FullDjangoInboxesAreCountedApartFromTheBacklog) {
  learn_members();
  redis.answer(redis.named("EVAL")[0], owned_reply::integer(1).get());  // the one key was full
  EXPECT_EQ(bridge.counters().inbox_full, 1u);
  EXPECT_EQ(bridge.counters().written, 0u);
  EXPECT_EQ(bridge.counters().backlog_dropped, 0u);
}

TEST_F(DjangoBridge, NothingGoesToDjangoWhileRedisIsAway) {
  redis.up = false;
  bridge.send("chat_a", chat_event);
  EXPECT_TRUE(redis.calls.empty());
  EXPECT_EQ(bridge.counters().backlog_dropped, 0u);
}

TEST_F(DjangoBridge, APoppedInboxMessageIsDeliveredToItsGateway) {
  test_gateway gw(gateways.endpoint(), "gw1");
  gw.introduce_to(gateways);
  gateways.hello_gateway("gw1", peers::clock::now());
  bridge.do_pop();
  ASSERT_EQ(redis.calls.size(), 1u);
  EXPECT_TRUE(redis.calls[0].pop);
  EXPECT_EQ(redis.calls[0].args, (redis_commands::argv{"BZPOPMIN", "asgispecific.gw1!", "1"}));

  const auto body = wire::encode_body(chat_event, {"specific.gw1!c1"}, wire::channel_field::string).value();
  std::vector<owned_reply::ptr> popped;
  popped.push_back(owned_reply::string("asgispecific.gw1!"));
  popped.push_back(owned_reply::string(std::string(wire::prefix_bytes, 'p') + body));
  popped.push_back(owned_reply::string("1700000000.5"));
  redis.answer(0, owned_reply::array(std::move(popped)).get());

  auto m = gw.receive();
  ASSERT_TRUE(m.has_value());
  const auto* d = std::get_if<proto::deliver>(&*m);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->targets, std::vector<std::string>{"c1"});
  EXPECT_EQ(d->event, chat_event);
  EXPECT_EQ(bridge.counters().inbox_delivered, 1u);
  EXPECT_EQ(redis.calls.size(), 2u);  // and it pops again
}

TEST_F(DjangoBridge, AnUndecodableInboxMessageIsDroppedAndCounted) {
  gateways.hello_gateway("gw1", peers::clock::now());
  bridge.do_pop();
  std::vector<owned_reply::ptr> popped;
  popped.push_back(owned_reply::string("asgispecific.gw1!"));
  popped.push_back(owned_reply::string("short"));
  popped.push_back(owned_reply::string("1700000000.5"));
  redis.answer(0, owned_reply::array(std::move(popped)).get());
  EXPECT_EQ(bridge.counters().inbox_dropped, 1u);
  EXPECT_EQ(bridge.counters().inbox_delivered, 0u);
}

// ---- send() to one Django channel ----

using outcome = django_bridge::direct_outcome;

TEST(SwitchboardProcessId, RunIdsOfGatewaysAndClientsButNotChannelsRedisProcesses) {
  EXPECT_TRUE(is_switchboard_process_id("gwa.0123456789abcdef"));
  EXPECT_TRUE(is_switchboard_process_id("cli.fedcba9876543210"));
  EXPECT_TRUE(is_switchboard_process_id("a.b.0123456789abcdef"));
  EXPECT_FALSE(is_switchboard_process_id("0123456789abcdef0123456789abcdef"));  // channels_redis: uuid4 hex
  EXPECT_FALSE(is_switchboard_process_id(".0123456789abcdef"));                  // no id before the dot
  EXPECT_FALSE(is_switchboard_process_id("gwa.0123456789ABCDEF"));              // upper case: not ours
  EXPECT_FALSE(is_switchboard_process_id("gwa.0123456789abcde"));               // 15 digits
  EXPECT_FALSE(is_switchboard_process_id("gwa-0123456789abcdef"));
  EXPECT_FALSE(is_switchboard_process_id(""));
}

TEST_F(DjangoBridge, ASendToAPlainChannelIsWrittenLikeChannelsRedisSend) {
  std::vector<outcome> got;
  bridge.send_to_channel("worker.thumbnails", chat_event, [&](outcome o) { got.push_back(o); });
  ASSERT_EQ(redis.named("ZREMRANGEBYSCORE").size(), 1u);
  EXPECT_EQ(redis.calls[redis.named("ZREMRANGEBYSCORE")[0]].args[1], "asgiworker.thumbnails");
  ASSERT_EQ(redis.named("EVAL").size(), 1u);
  const auto& eval = redis.calls[redis.named("EVAL")[0]].args;
  ASSERT_EQ(eval.size(), 8u);
  EXPECT_EQ(eval[2], "1");
  EXPECT_EQ(eval[3], "asgiworker.thumbnails");
  auto in = wire::decode_member(eval[4]);
  ASSERT_FALSE(in) << "a send to a plain channel carries no __asgi_channel__";
  EXPECT_EQ(eval[5], std::to_string(cfg.capacity));
  EXPECT_EQ(eval[7], std::to_string(cfg.expiry_s));
  EXPECT_TRUE(got.empty());
  redis.answer(redis.named("EVAL")[0], owned_reply::integer(0).get());
  EXPECT_EQ(got, std::vector<outcome>{outcome::written});
  EXPECT_EQ(bridge.counters().written, 1u);
}

TEST_F(DjangoBridge, ASendToAProcessLocalChannelNamesItInAStringField) {
  std::vector<outcome> got;
  bridge.send_to_channel("specific.abc123!xyz", chat_event, [&](outcome o) { got.push_back(o); });
  ASSERT_EQ(redis.named("EVAL").size(), 1u);
  const auto& eval = redis.calls[redis.named("EVAL")[0]].args;
  EXPECT_EQ(eval[3], "asgispecific.abc123!");
  auto in = wire::decode_member(eval[4]);
  ASSERT_TRUE(in) << in.error_text();
  EXPECT_FALSE(in->from_group_send);
  EXPECT_EQ(in->channels, std::vector<std::string>{"specific.abc123!xyz"});
  EXPECT_EQ(in->event, chat_event);
  redis.answer(redis.named("EVAL")[0], owned_reply::integer(0).get());
  EXPECT_EQ(got, std::vector<outcome>{outcome::written});
}

TEST_F(DjangoBridge, AFullInboxOrAbsentRedisIsReportedAndCounted) {
  cfg.channel_capacity = {{"worker.*", 3}};
  std::vector<outcome> got;
  bridge.send_to_channel("worker.x", chat_event, [&](outcome o) { got.push_back(o); });
  EXPECT_EQ(redis.calls[redis.named("EVAL")[0]].args[5], "3");  // --channel-capacity by the full name
  redis.answer(redis.named("EVAL")[0], owned_reply::integer(1).get());
  bridge.send_to_channel("worker.x", chat_event, [&](outcome o) { got.push_back(o); });
  redis.answer(redis.named("EVAL")[1], nullptr);  // the connection went away
  redis.up = false;
  bridge.send_to_channel("worker.x", chat_event, [&](outcome o) { got.push_back(o); });
  EXPECT_EQ(got, (std::vector<outcome>{outcome::full, outcome::redis_unavailable, outcome::redis_unavailable}));
  EXPECT_EQ(bridge.counters().inbox_full, 1u);
  EXPECT_EQ(bridge.counters().written, 0u);
}

TEST_F(DjangoBridge, SendsWaitingForRedisAreBounded) {
  std::size_t refused = 0;
  for (std::size_t i = 0; i < common::limits::max_django_backlog + 5; ++i) {
    bridge.send_to_channel("worker.x", chat_event, [&](outcome o) { refused += o == outcome::too_many_waiting; });
  }
  EXPECT_EQ(refused, 5u);
  EXPECT_EQ(redis.named("EVAL").size(), common::limits::max_django_backlog);
}

TEST(DjangoBridgeShards, APlainChannelCyclesTheHostsAProcessLocalOneGoesWhereItsProcessReads) {
  layerd_config cfg;
  fake_redis_commands redis(2);
  peers gateways{"tcp://127.0.0.1:*"};
  pending_notifications pending{cfg, redis, gateways};
  django_bridge bridge{cfg, redis, gateways, pending};
  for (int i = 0; i < 4; ++i) bridge.send_to_channel("worker.x", chat_event, [](outcome) {});
  std::vector<std::size_t> shards;
  for (auto i : redis.named("EVAL")) shards.push_back(redis.calls[i].shard);
  EXPECT_EQ(shards, (std::vector<std::size_t>{0, 1, 0, 1}));
  // Find a process-local channel whose full name and non-local name hash apart.
  for (int n = 0; n < 1000; ++n) {
    const std::string channel = "specific.p" + std::to_string(n) + "!c";
    if (common::redis_shard(channel, 2) == common::redis_shard(wire::non_local(channel), 2)) continue;
    bridge.send_to_channel(channel, chat_event, [](outcome) {});
    EXPECT_EQ(redis.calls[redis.named("EVAL").back()].shard, common::redis_shard(wire::non_local(channel), 2));
    return;
  }
  FAIL() << "no channel found";
}

TEST(DjangoBridgeShards, EachPlainChannelHasItsOwnTurnRoundTheHosts) {
  // Two routes' connects interleaved: each route's still alternate, as its
  // reader's receive() does (docs/django.md, Several Redis hosts).
  layerd_config cfg;
  fake_redis_commands redis(2);
  peers gateways{"tcp://127.0.0.1:*"};
  pending_notifications pending{cfg, redis, gateways};
  django_bridge bridge{cfg, redis, gateways, pending};
  for (int i = 0; i < 3; ++i) {
    bridge.send_to_channel("chat", chat_event, [](outcome) {});
    bridge.send_to_channel("state", chat_event, [](outcome) {});
  }
  std::vector<std::size_t> chat, state;
  for (auto i : redis.named("EVAL")) {
    (redis.calls[i].args[3] == "asgichat" ? chat : state).push_back(redis.calls[i].shard);
  }
  EXPECT_EQ(chat, (std::vector<std::size_t>{0, 1, 0}));
  EXPECT_EQ(state, (std::vector<std::size_t>{0, 1, 0}));
}

TEST(DjangoBridgeShards, AnEveryHostSendWritesACopyOnEachHostThatIsUpAndAnswersOnceForAll) {
  // A connect to a django: route (SEND flag send_every_host): whichever
  // host a worker's receive() waits on has a copy (docs/protocol.md,
  // Part 3, Several Redis hosts).
  layerd_config cfg;
  fake_redis_commands redis(3);
  peers gateways{"tcp://127.0.0.1:*"};
  pending_notifications pending{cfg, redis, gateways};
  django_bridge bridge{cfg, redis, gateways, pending};
  std::vector<outcome> got;
  bridge.send_to_channel("chat", chat_event, [&](outcome o) { got.push_back(o); }, true);
  auto evals = redis.named("EVAL");
  ASSERT_EQ(evals.size(), 3u);
  std::vector<std::size_t> shards;
  for (auto i : evals) {
    shards.push_back(redis.calls[i].shard);
    EXPECT_EQ(redis.calls[i].args[3], "asgichat");
    EXPECT_FALSE(wire::decode_member(redis.calls[i].args[4])) << "a plain channel's copy names no channel";
  }
  EXPECT_EQ(shards, (std::vector<std::size_t>{0, 1, 2}));
  // One answer, once every host answered: written when any copy was.
  redis.answer(evals[0], owned_reply::integer(1).get());  // full there
  redis.answer(evals[1], nullptr);                         // that host went away
  EXPECT_TRUE(got.empty());
  redis.answer(evals[2], owned_reply::integer(0).get());
  EXPECT_EQ(got, std::vector<outcome>{outcome::written});
  EXPECT_EQ(bridge.counters().copies, 0u);  // one copy landed: nothing extra

  // A host that is down is skipped; the others each get their copy.
  redis.down_shards = {1};
  bridge.send_to_channel("chat", chat_event, [&](outcome o) { got.push_back(o); }, true);
  evals = redis.named("EVAL");
  ASSERT_EQ(evals.size(), 5u);
  EXPECT_EQ(redis.calls[evals[3]].shard, 0u);
  EXPECT_EQ(redis.calls[evals[4]].shard, 2u);
  redis.answer(evals[3], owned_reply::integer(0).get());
  redis.answer(evals[4], owned_reply::integer(0).get());
  EXPECT_EQ(got.back(), outcome::written);
  EXPECT_EQ(bridge.counters().copies, 1u);

  // Every copy refused: full when a host was at capacity, else unavailable.
  bridge.send_to_channel("chat", chat_event, [&](outcome o) { got.push_back(o); }, true);
  evals = redis.named("EVAL");
  redis.answer(evals[5], owned_reply::integer(1).get());
  redis.answer(evals[6], nullptr);
  EXPECT_EQ(got.back(), outcome::full);
  redis.down_shards = {0, 1, 2};
  bridge.send_to_channel("chat", chat_event, [&](outcome o) { got.push_back(o); }, true);
  EXPECT_EQ(got.back(), outcome::redis_unavailable);
  EXPECT_EQ(got.size(), 4u);

  // A process-local channel ignores the flag: one write, where its process reads.
  redis.down_shards.clear();
  const std::size_t before = redis.named("EVAL").size();
  bridge.send_to_channel("specific.p1!c", chat_event, [](outcome) {}, true);
  EXPECT_EQ(redis.named("EVAL").size(), before + 1);
}

TEST(DjangoBridgeShards, EveryHostCopiesCountAgainstTheBoundOfSendsWaitingForRedis) {
  layerd_config cfg;
  fake_redis_commands redis(2);
  peers gateways{"tcp://127.0.0.1:*"};
  pending_notifications pending{cfg, redis, gateways};
  django_bridge bridge{cfg, redis, gateways, pending};
  std::size_t refused = 0;
  for (std::size_t i = 0; i < common::limits::max_django_backlog / 2 + 3; ++i) {
    bridge.send_to_channel("chat", chat_event, [&](outcome o) { refused += o == outcome::too_many_waiting; }, true);
  }
  EXPECT_EQ(refused, 3u);
  EXPECT_EQ(redis.named("EVAL").size(), (common::limits::max_django_backlog / 2) * 2);
}

}  // namespace
}  // namespace sb::layerd::testing
