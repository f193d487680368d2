// seq_reorder_test.cpp — worker messages applied in seq order, bounded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/seq_reorder.hpp"

namespace sb::gateway {
namespace {

using r = seq_reorder<std::string>;
using clock = r::clock;

std::vector<std::string> apply_all(r& q, std::uint64_t seq, std::string m, clock::time_point now) {
  std::vector<std::string> out;
  if (q.offer(seq, std::move(m), now) != r::verdict::apply) return out;
  out.push_back(q.take_ready());
  while (auto next = q.pop_ready(now)) out.push_back(*next);
  return out;
}

TEST(SeqReorder, InOrderAppliesAtOnce) {
  r q;
  const auto t = clock::now();
  EXPECT_EQ(apply_all(q, 1, "a", t), (std::vector<std::string>{"a"}));
  EXPECT_EQ(apply_all(q, 2, "b", t), (std::vector<std::string>{"b"}));
  EXPECT_EQ(q.next(), 3u);
}

TEST(SeqReorder, AheadWaitsThenDrainsInOrder) {
  r q;
  const auto t = clock::now();
  EXPECT_EQ(q.offer(3, "c", t), r::verdict::waiting);
  EXPECT_EQ(q.offer(2, "b", t), r::verdict::waiting);
  EXPECT_EQ(apply_all(q, 1, "a", t), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(SeqReorder, DuplicatesAreRefused) {
  r q;
  const auto t = clock::now();
  apply_all(q, 1, "a", t);
  EXPECT_EQ(q.offer(1, "a", t), r::verdict::duplicate);
  EXPECT_EQ(q.offer(5, "e", t), r::verdict::waiting);
  EXPECT_EQ(q.offer(5, "e", t), r::verdict::duplicate);
}

TEST(SeqReorder, TooManyWaitingOverflows) {
  r q;
  const auto t = clock::now();
  for (std::uint64_t s = 2; s < 2 + r::max_waiting; ++s) EXPECT_EQ(q.offer(s, "x", t), r::verdict::waiting);
  EXPECT_EQ(q.offer(10000, "x", t), r::verdict::overflow);
}

TEST(SeqReorder, TooManyBytesWaitingOverflows) {
  r q;
  const auto t = clock::now();
  EXPECT_EQ(q.offer(3, "x", t, r::max_waiting_bytes - 10), r::verdict::waiting);
  EXPECT_EQ(q.offer(4, "x", t, 11), r::verdict::overflow);
  EXPECT_EQ(q.offer(4, "x", t, 10), r::verdict::waiting);
  EXPECT_EQ(apply_all(q, 1, "a", t).size(), 1u);
  EXPECT_EQ(apply_all(q, 2, "b", t).size(), 3u);  // 2, 3, 4: their bytes are free again
  EXPECT_EQ(q.offer(6, "x", t, r::max_waiting_bytes), r::verdict::waiting);
}

TEST(SeqReorder, AGapExpiresAfterTwoSeconds) {
  r q;
  const auto t = clock::now();
  EXPECT_FALSE(q.gap_expired(t + std::chrono::seconds(10)));
  q.offer(3, "c", t);
  q.offer(5, "e", t);
  EXPECT_FALSE(q.gap_expired(t + std::chrono::milliseconds(1900)));
  EXPECT_TRUE(q.gap_expired(t + std::chrono::milliseconds(2100)));
  // 1 and 2 arrive: 3 goes with them; 5 waits for a newer gap
  EXPECT_EQ(apply_all(q, 1, "a", t), (std::vector<std::string>{"a"}));
  EXPECT_EQ(apply_all(q, 2, "b", t + std::chrono::milliseconds(1000)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_FALSE(q.gap_expired(t + std::chrono::milliseconds(2100)));
  EXPECT_TRUE(q.gap_expired(t + std::chrono::milliseconds(3100)));
}

}  // namespace
}  // namespace sb::gateway
