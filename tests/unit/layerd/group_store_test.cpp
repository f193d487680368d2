// group_store_test.cpp — layerd's in-memory membership and its Redis change lists.
#include <gtest/gtest.h>

#include <algorithm>

#include "layerd/group_store.hpp"

namespace sb::layerd {
namespace {

TEST(GroupStore, AddsAndRemovesMembersBucketedByGateway) {
  group_store s;
  EXPECT_TRUE(s.add("chat_a", "gw1", "1", 1.0));
  EXPECT_FALSE(s.add("chat_a", "gw1", "1", 2.0)) << "second add of the same member is not new";
  EXPECT_TRUE(s.add("chat_a", "gw1", "2", 1.0));
  EXPECT_TRUE(s.add("chat_a", "gw2", "1", 1.0));
  const auto* m = s.find("chat_a");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->size(), 2u);
  EXPECT_EQ(m->at("gw1").size(), 2u);
  EXPECT_EQ(s.member_count(), 3u);
  EXPECT_TRUE(s.remove("chat_a", "gw1", "1"));
  EXPECT_FALSE(s.remove("chat_a", "gw1", "1"));
  EXPECT_FALSE(s.remove("chat_zzz", "gw1", "1"));
  EXPECT_EQ(s.member_count(), 2u);
}

TEST(GroupStore, EmptyGroupsDisappear) {
  group_store s;
  s.add("chat_a", "gw1", "1", 1.0);
  s.remove("chat_a", "gw1", "1");
  EXPECT_EQ(s.find("chat_a"), nullptr);
  EXPECT_EQ(s.group_count(), 0u);
}

TEST(GroupStore, RemovingAGatewayReturnsItsChannelsOnly) {
  group_store s;
  s.add("chat_a", "gw1", "1", 1.0);
  s.add("chat_b", "gw1", "2", 1.0);
  s.add("chat_a", "gw2", "1", 1.0);
  auto removed = s.remove_gateway("gw1");
  std::sort(removed.begin(), removed.end());
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0], (std::pair<std::string, std::string>{"chat_a", "specific.gw1!1"}));
  EXPECT_EQ(removed[1], (std::pair<std::string, std::string>{"chat_b", "specific.gw1!2"}));
  EXPECT_EQ(s.find("chat_b"), nullptr);
  ASSERT_NE(s.find("chat_a"), nullptr);
  EXPECT_EQ(s.find("chat_a")->count("gw2"), 1u);
  EXPECT_EQ(s.member_count(), 1u);
  EXPECT_TRUE(s.remove_gateway("gw-unknown").empty());
}

TEST(GroupStore, ReplaceGatewayReturnsTheDiff) {
  group_store s;
  s.add("chat_a", "gw1", "1", 1.0);
  s.add("chat_a", "gw1", "2", 1.0);
  s.add("chat_b", "gw1", "3", 1.0);
  s.add("chat_b", "gw2", "9", 1.0);
  auto d = s.replace_gateway("gw1", {{"chat_a", {"2", "4"}}, {"chat_c", {"5"}}}, 2.0);
  std::sort(d.added.begin(), d.added.end());
  std::sort(d.removed.begin(), d.removed.end());
  EXPECT_EQ(d.added, (group_store::changes{{"chat_a", "specific.gw1!4"}, {"chat_c", "specific.gw1!5"}}));
  EXPECT_EQ(d.removed, (group_store::changes{{"chat_a", "specific.gw1!1"}, {"chat_b", "specific.gw1!3"}}));
  EXPECT_EQ(s.find("chat_b")->size(), 1u) << "gw2's member untouched";
  EXPECT_EQ(s.member_count(), 4u);
  auto none = s.replace_gateway("gw1", {}, 3.0);
  EXPECT_EQ(none.removed.size(), 3u);
  EXPECT_EQ(s.member_count(), 1u);
}

TEST(GroupStore, ForEachGroupListsFullChannelNames) {
  group_store s;
  s.add("chat_a", "gw1", "1", 1.0);
  s.add("chat_a", "gw2", "7", 1.0);
  std::vector<std::string> seen;
  s.for_each_group([&](const std::string& g, std::vector<std::string>&& channels) {
    EXPECT_EQ(g, "chat_a");
    seen = channels;
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"specific.gw1!1", "specific.gw2!7"}));
}

}  // namespace
}  // namespace sb::layerd
