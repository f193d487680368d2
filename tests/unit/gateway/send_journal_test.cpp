// send_journal_test.cpp — sends kept until acknowledged, parked in order on failover.
#include <gtest/gtest.h>

#include "gateway/send_journal.hpp"

namespace sb::gateway {
namespace {

send_journal::entry make(std::uint64_t id, const char* group = "g") { return {id, 0, group, "ev"}; }

void send(send_journal& j, std::size_t link, send_journal::entry e) {
  e.seq = j.take_seq(link);
  j.sent(link, std::move(e));
}

std::vector<std::uint64_t> parked_ids(const send_journal& j) {
  std::vector<std::uint64_t> ids;
  for (const auto& e : j.parked()) ids.push_back(e.id);
  return ids;
}

TEST(SendJournal, ACumulativeAckReleasesEverythingUpToItsSeqAndAStaleOneNothing) {
  send_journal j(2);
  for (std::uint64_t id = 1; id <= 5; ++id) send(j, 0, make(id));
  auto [bytes, n] = j.acked(0, 3);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(bytes, 3u * 3u);  // "g" + "ev"
  EXPECT_EQ(j.unacked(0), 2u);
  EXPECT_EQ(j.acked(0, 2).second, 0u);  // stale
  EXPECT_EQ(j.acked(1, 99).second, 0u);  // another link
  EXPECT_EQ(j.acked(0, 99).second, 2u);
}

TEST(SendJournal, ALinkThatGoesDownParksItsSendsInAcceptedOrder) {
  send_journal j(2);
  send(j, 1, make(7));
  send(j, 0, make(3));
  send(j, 0, make(8));
  j.park(make(9));  // refused by ZeroMQ earlier
  EXPECT_EQ(j.park_link(0), 2u);
  EXPECT_EQ(parked_ids(j), (std::vector<std::uint64_t>{3, 8, 9}));
  // re-sent on link 1 after a newer send there; link 1 fails too
  EXPECT_TRUE(j.holds("g"));
  while (j.has_parked()) {
    send(j, 1, j.front());
    j.pop_front();
  }
  EXPECT_FALSE(j.holds("g"));
  EXPECT_EQ(j.park_link(1), 4u);
  EXPECT_EQ(parked_ids(j), (std::vector<std::uint64_t>{3, 7, 8, 9}));
  EXPECT_TRUE(j.holds("g"));
  EXPECT_FALSE(j.holds("other"));
  EXPECT_EQ(j.unacked(1), 0u);
}

}  // namespace
}  // namespace sb::gateway
