// membership_test.cpp — the Redis mirror and the group hooks, against a
// scripted Redis: hooks hear only of the groups they follow, and removals
// Redis missed are written when it returns.
#include <gtest/gtest.h>

#include "layerd/membership.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"

namespace sb::layerd {
namespace {

using testing::fake_redis_commands;

class recording_hooks final : public group_hooks {
 public:
  bool follows(std::string_view group) const override { return group.starts_with("room_"); }
  void joined(const std::string& group, const std::string& channel, join how) override {
    seen.push_back((how == join::add ? "joined " : "synced ") + group + " " + channel);
  }
  void left(const std::string& group, const std::string& channel) override {
    seen.push_back("left " + group + " " + channel);
  }
  void sent(const std::string& group, const std::string&, std::string_view type) override {
    seen.push_back("sent " + group + " " + std::string(type));
  }
  void rewritten(const std::string& group, const std::vector<std::string>& channels,
                 const std::vector<bool>&) override {
    seen.push_back("rewritten " + group + " " + std::to_string(channels.size()));
  }
  std::vector<std::string> seen;
};

class Membership : public ::testing::Test {
 protected:
  Membership() { members.attach(hooks); }
  fake_redis_commands redis;
  membership members{redis, "asgi", 86400};
  recording_hooks hooks;
};

TEST_F(Membership, HooksHearOnlyOfTheGroupsTheyFollow) {
  members.add("room_1", "gw1", "c1", "specific.gw1!c1", 1.0);
  members.add("chat_a", "gw1", "c1", "specific.gw1!c1", 1.0);
  members.sent("room_1", "e", "chat.message");
  members.sent("chat_a", "e", "chat.message");
  members.sync("gw1", {{"room_2", {"c2"}}}, 2.0);
  members.rewrite({true});
  members.forget_gateway("gw1");
  EXPECT_EQ(hooks.seen, (std::vector<std::string>{"joined room_1 specific.gw1!c1", "sent room_1 chat.message",
                                                  "left room_1 specific.gw1!c1", "synced room_2 specific.gw1!c2",
                                                  "rewritten room_2 1", "left room_2 specific.gw1!c2"}));
}

TEST_F(Membership, ASyncThatMovesAGroupAwayLeavesItsMembersInRedisForTheNewOwner) {
  members.add("room_1", "gw1", "c1", "specific.gw1!c1", 1.0);
  members.add("chat_b", "gw1", "c2", "specific.gw1!c2", 1.0);
  redis.calls.clear();
  hooks.seen.clear();
  // room_1 moved to another layerd; chat_b's member really left
  members.sync("gw1", {}, 2.0, {"room_1"});
  ASSERT_EQ(redis.calls.size(), 1u);
  EXPECT_EQ(redis.calls[0].args, (redis_commands::argv{"ZREM", "asgi:group:chat_b", "specific.gw1!c2"}));
  EXPECT_EQ(hooks.seen, (std::vector<std::string>{"left room_1 specific.gw1!c1"}));
  EXPECT_EQ(members.find("room_1"), nullptr);  // gone from memory all the same
}

TEST_F(Membership, ADiscardOfANonMemberTouchesNothing) {
  members.discard("room_1", "gw1", "c1", "specific.gw1!c1");
  EXPECT_TRUE(redis.calls.empty());
  EXPECT_TRUE(hooks.seen.empty());
}

TEST_F(Membership, RemovalsMadeWhileRedisWasAwayAreWrittenWhenItReturns) {
  members.add("chat_a", "gw1", "c1", "specific.gw1!c1", 1.0);
  members.add("chat_a", "gw1", "c2", "specific.gw1!c2", 1.0);
  redis.up = false;
  members.discard("chat_a", "gw1", "c1", "specific.gw1!c1");
  redis.up = true;
  redis.calls.clear();
  members.rewrite({true});
  ASSERT_GE(redis.calls.size(), 3u);
  EXPECT_EQ(redis.calls[0].args, (redis_commands::argv{"ZREM", "asgi:group:chat_a", "specific.gw1!c1"}));
  EXPECT_EQ(redis.calls[1].args[0], "ZADD");
  EXPECT_EQ(redis.calls[1].args[3], "specific.gw1!c2");
  EXPECT_EQ(redis.calls[2].args, (redis_commands::argv{"EXPIRE", "asgi:group:chat_a", "86400"}));
}

TEST_F(Membership, AJoinAfterARemovalRedisMissedCancelsTheRemoval) {
  members.add("chat_a", "gw1", "c1", "specific.gw1!c1", 1.0);
  redis.up = false;
  members.discard("chat_a", "gw1", "c1", "specific.gw1!c1");
  members.add("chat_a", "gw1", "c1", "specific.gw1!c1", 2.0);
  redis.up = true;
  redis.calls.clear();
  members.rewrite({true});
  EXPECT_TRUE(redis.named("ZREM").empty());
  EXPECT_EQ(redis.named("ZADD").size(), 1u);
}

}  // namespace
}  // namespace sb::layerd
