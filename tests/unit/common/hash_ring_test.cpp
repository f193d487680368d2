// hash_ring_test.cpp — consistent hashing of groups over layerds.
#include <gtest/gtest.h>

#include <map>

#include "common/hash_ring.hpp"

namespace sb::common {
namespace {

const std::vector<std::string> nodes{"tcp://127.0.0.1:7100", "tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102"};

TEST(HashRing, StableHashIsFixedAcrossRuns) {
  // Gateways built at different times must agree, so the function is
  // pinned to values from an independent (Python) implementation of
  // FNV-1a 64 + the splitmix64 finaliser.
  EXPECT_EQ(stable_hash(""), 0xf52a15e9a9b5e89bULL);
  EXPECT_EQ(stable_hash("chat_lobby"), 0x32df3a488763106aULL);
  EXPECT_NE(stable_hash("chat_a"), stable_hash("chat_b"));
}

TEST(HashRing, EveryGroupHasOneOwnerWhenAllAreUp) {
  hash_ring ring(nodes);
  std::vector<bool> alive(3, true);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 3000; ++i) {
    auto o = ring.owner(std::string("chat_room").append(std::to_string(i)), alive);
    ASSERT_TRUE(o);
    ++counts[*o];
  }
  ASSERT_EQ(counts.size(), 3u);
  for (auto& [node, n] : counts) EXPECT_GT(n, 600) << "node " << node << " got too few groups";
}

TEST(HashRing, OrderOfTheListDoesNotChangeOwners) {
  hash_ring a(nodes);
  hash_ring b({nodes[2], nodes[0], nodes[1]});
  std::vector<bool> alive(3, true);
  for (int i = 0; i < 500; ++i) {
    const std::string g = std::string("g").append(std::to_string(i));
    EXPECT_EQ(a.node(*a.owner(g, alive)), b.node(*b.owner(g, alive)));
  }
}

TEST(HashRing, OnlyTheDeadNodesGroupsMove) {
  hash_ring ring(nodes);
  std::vector<bool> all(3, true);
  std::vector<bool> without1{true, false, true};
  for (int i = 0; i < 2000; ++i) {
    const std::string g = std::string("chat_").append(std::to_string(i));
    const auto before = *ring.owner(g, all);
    const auto after = *ring.owner(g, without1);
    EXPECT_NE(after, 1u);
    if (before != 1) {
      EXPECT_EQ(before, after) << g;
    }
  }
}

TEST(HashRing, NoOwnerWhenNothingIsAlive) {
  hash_ring ring(nodes);
  EXPECT_FALSE(ring.owner("chat_x", std::vector<bool>(3, false)));
  hash_ring empty({});
  EXPECT_FALSE(empty.owner("chat_x", {}));
}

}  // namespace
}  // namespace sb::common
