// popped_sends_test.cpp — which of a sole gateway's workers' group_sends
// layerd applies where it pops their batch, and what keeps one socket's
// order (layerd/popped_sends.hpp); and the batch reader it uses
// (common::worker_wire::decode_group_ops).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "common/worker_wire.hpp"
#include "layerd/popped_sends.hpp"

namespace sb::layerd {
namespace {

const std::string gw = "gw.0123456789abcdef";
const std::string W = "specific.w1!a";

std::string S(const std::string& conn) { return "specific." + gw + "!" + conn; }

// One batch entry, as switchboard_django writes it.
struct entry {
  std::string type;  // "group_add", "group_discard", "group_send", "send"
  std::string socket;
  std::uint64_t seq;
  std::string group = "chat_a";
  std::string worker = W;
};

std::string batch_bytes(const std::vector<entry>& entries, const std::string& worker = W) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pk.pack(std::string("type"));
  pk.pack(std::string("switchboard.batch"));
  pk.pack(std::string("worker"));
  pk.pack(worker);
  pk.pack(std::string("messages"));
  pk.pack_array(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    const bool send = e.type == "send";
    pk.pack_map(send ? 5 : e.type == "group_send" ? 6 : 5);
    pk.pack(std::string("type"));
    pk.pack(send ? std::string("websocket.send") : "switchboard." + e.type);
    pk.pack(std::string("socket"));
    pk.pack(e.socket);
    pk.pack(std::string("worker"));
    pk.pack(e.worker);
    pk.pack(std::string("seq"));
    pk.pack(e.seq);
    if (send) {
      pk.pack(std::string("text"));
      pk.pack(std::string("hi"));
      continue;
    }
    pk.pack(std::string("group"));
    pk.pack(e.group);
    if (e.type == "group_send") {
      pk.pack(std::string("message"));
      pk.pack_map(2);
      pk.pack(std::string("type"));
      pk.pack(std::string("chat.message"));
      pk.pack(std::string("message"));
      pk.pack(std::string("m") + std::to_string(e.seq));
    }
  }
  return std::string(buf.data(), buf.size());
}

struct PoppedSends : ::testing::Test {
  popped_sends sends;
  std::map<std::pair<std::string, std::string>, std::string> routes;  // (group, conn) → W

  popped_sends::plan pop(const std::vector<entry>& entries, const std::string& worker = W) {
    auto ops = common::worker_wire::decode_group_ops(batch_bytes(entries, worker));
    EXPECT_TRUE(ops);
    return sends.plan_for(gw, *ops, [this](const std::string& group, const std::string& conn) -> const std::string* {
      auto it = routes.find({group, conn});
      return it == routes.end() ? nullptr : &it->second;
    });
  }
  // A sole gateway past its first BATCH_DONE.
  void open() {
    sends.hello(gw, true);
    auto p = pop({});
    ASSERT_NE(p.serial, 0u);
    sends.done(gw, {p.serial, {}});
  }
};

TEST_F(PoppedSends, ANonSoleGatewaysBatchesAreLeftWhole) {
  routes[{"chat_a", "1a"}] = W;
  sends.hello(gw, false);
  auto p = pop({{"group_send", S("1a"), 5}});
  EXPECT_TRUE(p.applied.empty());
  EXPECT_EQ(p.serial, 0u);
  EXPECT_FALSE(sends.sole(gw));
}

TEST_F(PoppedSends, NothingIsAppliedBeforeTheFirstBatchDone) {
  routes[{"chat_a", "1a"}] = W;
  sends.hello(gw, true);
  auto first = pop({{"group_send", S("1a"), 5}});
  EXPECT_TRUE(first.applied.empty());
  ASSERT_NE(first.serial, 0u);  // asks for its BATCH_DONE
  sends.done(gw, {first.serial, {}});
  auto second = pop({{"send", S("1a"), 6}, {"group_send", S("1a"), 7}});
  ASSERT_EQ(second.applied, (std::vector<std::uint32_t>{1}));
  ASSERT_EQ(second.sends.size(), 1u);
  EXPECT_EQ(second.sends[0].group, "chat_a");
  EXPECT_EQ(second.sends[0].type, "chat.message");
  EXPECT_EQ(second.serial, 0u);  // nothing left to the gateway: no BATCH_DONE wanted
  EXPECT_EQ(sends.counters().applied, 1u);
}

TEST_F(PoppedSends, AGroupSendAfterItsSocketsGroupAddWaitsForThatBatchsDone) {
  open();
  routes[{"chat_a", "1a"}] = W;
  routes[{"chat_b", "1a"}] = W;
  auto p = pop({{"group_add", S("1a"), 8, "chat_b"}, {"group_send", S("1a"), 9, "chat_b"}});
  EXPECT_TRUE(p.applied.empty());
  ASSERT_NE(p.serial, 0u);
  EXPECT_EQ(sends.counters().left, 1u);
  // Still in flight through the gateway: the next batch's send is left too.
  auto q = pop({{"group_send", S("1a"), 10}});
  EXPECT_TRUE(q.applied.empty());
  ASSERT_GT(q.serial, p.serial);
  // Another socket is not held back.
  routes[{"chat_a", "2b"}] = W;
  auto r = pop({{"group_send", S("2b"), 3}});
  EXPECT_EQ(r.applied, (std::vector<std::uint32_t>{0}));
  // p's BATCH_DONE is not enough: q's send was left behind it.
  sends.done(gw, {p.serial, {}});
  EXPECT_TRUE(pop({{"group_send", S("1a"), 11}}).applied.empty());
  sends.done(gw, {1000, {}});  // never given: ignored
  auto twelve = pop({{"group_send", S("1a"), 12}});
  EXPECT_TRUE(twelve.applied.empty());
  ASSERT_LT(twelve.serial, 1000u);
  EXPECT_EQ(pop({}).serial, 0u);  // nothing left in it, and open: no BATCH_DONE wanted
  sends.done(gw, {twelve.serial, {}});
  EXPECT_EQ(pop({{"group_send", S("1a"), 13}}).applied, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(sends.marked(), 0u);
}

TEST_F(PoppedSends, AGroupOperationSentAloneHoldsTheSocketsNextGroupSendsUntilTheNextDone) {
  open();
  routes[{"chat_a", "1a"}] = W;
  routes[{"chat_a", "2b"}] = W;
  // a group_send sent to S alone (too big for a batch) was DELIVERed: 1a waits
  sends.unbatched(gw, "1a");
  EXPECT_EQ(sends.marked(), 1u);
  auto p = pop({{"group_send", S("1a"), 5}, {"group_send", S("2b"), 3}});
  EXPECT_EQ(p.applied, (std::vector<std::uint32_t>{1}));  // only the other socket's
  ASSERT_NE(p.serial, 0u);  // asks for the BATCH_DONE that covers the lone one
  sends.done(gw, {p.serial, {}});
  EXPECT_EQ(pop({{"group_send", S("1a"), 6}}).applied, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(sends.marked(), 0u);
  // a batch with nothing of 1a gives no serial: 1a still waits for one
  sends.unbatched(gw, "1a");
  EXPECT_EQ(pop({{"group_send", S("2b"), 4}}).serial, 0u);
  auto q = pop({{"group_send", S("1a"), 8}});
  EXPECT_TRUE(q.applied.empty());
  ASSERT_NE(q.serial, 0u);
  sends.done(gw, {q.serial, {}});
  EXPECT_EQ(pop({{"group_send", S("1a"), 9}}).applied, (std::vector<std::uint32_t>{0}));
  // a gateway that is not sole has no marks
  sends.hello("other.0123456789abcdef", false);
  sends.unbatched("other.0123456789abcdef", "1a");
  EXPECT_EQ(sends.marked(), 0u);
}

TEST_F(PoppedSends, OnlyAKnownWorkerMembersSendsAreApplied) {
  open();
  routes[{"chat_a", "1a"}] = W;
  // a group the socket is not known in, another worker, a mismatched batch worker
  EXPECT_TRUE(pop({{"group_send", S("1a"), 5, "chat_z"}}).applied.empty());
  open();
  EXPECT_TRUE(pop({{"group_send", S("1a"), 6, "chat_a", "specific.w2!b"}}).applied.empty());
  open();
  EXPECT_TRUE(pop({{"group_send", S("1a"), 7}}, "specific.w2!b").applied.empty());
  open();
  // not this gateway's socket: skipped (the gateway drops it), nothing marked
  auto p = pop({{"group_send", "specific.gw.ffffffffffffffff!1a", 8}});
  EXPECT_TRUE(p.applied.empty());
  EXPECT_EQ(p.serial, 0u);
  EXPECT_EQ(pop({{"group_send", S("1a"), 9}}).applied, (std::vector<std::uint32_t>{0}));
}

TEST_F(PoppedSends, ASocketTheGatewayHoldsMessagesForIsLeftUntilADoneOmitsIt) {
  open();
  routes[{"chat_a", "1a"}] = W;
  auto p = pop({{"group_discard", S("2b"), 4}});
  sends.done(gw, {p.serial, {"1a"}});
  auto q = pop({{"group_send", S("1a"), 5}});
  EXPECT_TRUE(q.applied.empty());
  sends.done(gw, {q.serial, {}});
  EXPECT_EQ(pop({{"group_send", S("1a"), 6}}).applied, (std::vector<std::uint32_t>{0}));
}

TEST_F(PoppedSends, AHelloStartsAfreshAndForgetEnds) {
  open();
  routes[{"chat_a", "1a"}] = W;
  EXPECT_FALSE(pop({{"group_send", S("1a"), 5}}).applied.empty());
  sends.hello(gw, true);  // a re-created connection
  EXPECT_TRUE(pop({{"group_send", S("1a"), 6}}).applied.empty());
  sends.forget(gw);
  auto p = pop({{"group_send", S("1a"), 7}});
  EXPECT_TRUE(p.applied.empty());
  EXPECT_EQ(p.serial, 0u);
}

TEST_F(PoppedSends, PastTheMarkBoundEverySocketWaitsForTheOverflowingBatch) {
  open();
  routes[{"chat_a", "zz"}] = W;
  std::uint64_t last = 0;
  for (std::size_t i = 0; i <= popped_sends::max_marked; i += 1000) {
    std::vector<entry> adds;
    for (std::size_t j = i; j < i + 1000 && j <= popped_sends::max_marked; ++j) {
      char conn[16];
      std::snprintf(conn, sizeof conn, "%zx", j);
      adds.push_back({"group_add", S(conn), 1});
    }
    last = pop(adds).serial;
  }
  EXPECT_EQ(sends.counters().marks_overflowed, 1u);
  auto held = pop({{"group_send", S("zz"), 2}});  // left, and past the bound: held by a barrier, not a mark
  EXPECT_TRUE(held.applied.empty());
  ASSERT_GT(held.serial, last);
  sends.done(gw, {last, {}});
  EXPECT_TRUE(pop({{"group_send", S("zz"), 3}}).applied.empty());
  auto again = pop({});
  sends.done(gw, {again.serial, {}});
  EXPECT_EQ(pop({{"group_send", S("zz"), 4}}).applied, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(sends.marked(), 0u);
}

TEST(DecodeGroupOps, ReadsOnlyTheGroupEntriesWithTheirPlaces) {
  auto ops = common::worker_wire::decode_group_ops(batch_bytes({{"send", S("1a"), 1},
                                                                 {"group_add", S("1a"), 2},
                                                                 {"group_send", S("1a"), 3, "bad group!"},
                                                                 {"group_send", S("2b"), 4}}));
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->worker, W);
  ASSERT_EQ(ops->ops.size(), 2u);  // the send skipped, the bad group name refused
  EXPECT_EQ(ops->ops[0].index, 1u);
  EXPECT_EQ(ops->ops[0].m.what, common::worker_wire::message::kind::group_add);
  EXPECT_EQ(ops->ops[1].index, 3u);
  EXPECT_EQ(ops->ops[1].socket, S("2b"));
  EXPECT_FALSE(common::worker_wire::decode_group_ops("\x81\xa4type\xabsome.event"));
  EXPECT_FALSE(common::worker_wire::decode_group_ops("\xc1"));
  std::vector<entry> many(1001, entry{"send", S("1a"), 1});
  EXPECT_FALSE(common::worker_wire::decode_group_ops(batch_bytes(many)));
}

}  // namespace
}  // namespace sb::layerd
