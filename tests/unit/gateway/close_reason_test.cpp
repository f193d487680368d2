// close_reason_test.cpp — each close reason's code on the wire and its counter label.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "gateway/close_reason.hpp"

namespace sb::gateway {
namespace {

TEST(CloseReason, EachReasonKeepsTheCodeBrowsersHaveAlwaysSeen) {
  EXPECT_EQ(describe(close_reason::going_away).code, 1001);
  EXPECT_EQ(describe(close_reason::protocol_error).code, 1002);
  EXPECT_EQ(describe(close_reason::unsupported_data).code, 1003);
  EXPECT_EQ(describe(close_reason::invalid_payload).code, 1007);
  EXPECT_EQ(describe(close_reason::rate_limited).code, 1008);
  EXPECT_EQ(describe(close_reason::slow_consumer).code, 1008);
  EXPECT_EQ(describe(close_reason::frame_too_big).code, 1009);
  EXPECT_EQ(describe(close_reason::ping_timeout).code, 0) << "cut without a close frame";
  EXPECT_EQ(describe(close_reason::slow_consumer).text, "slow consumer");
  // Django routes (docs/protocol.md, Part 3)
  EXPECT_EQ(describe(close_reason::out_of_order).code, 1011);
  EXPECT_EQ(describe(close_reason::worker_lost).code, 1012);
  EXPECT_EQ(describe(close_reason::worker_unavailable).code, 1013);
}

TEST(CloseReason, EveryReasonHasItsOwnCounterLabel) {
  std::set<std::string> labels;
  for (const auto r : all_close_reasons()) labels.insert(std::string(describe(r).metric));
  EXPECT_EQ(labels.size(), close_reason_count);
  for (const char* kept : {"binary", "too_big", "rate_limited", "slow_consumer", "ping_timeout", "protocol_error",
                           "going_away"}) {
    EXPECT_EQ(labels.count(kept), 1u) << kept << " is an existing /metrics label";
  }
}

TEST(CloseReason, APeersCloseIsAnsweredWithItsOwnCode) {
  EXPECT_EQ(answer_to_peer(4000).code, 4000);
  EXPECT_EQ(answer_to_peer(1005).code, 1000) << "no status: answered with 1000";
  EXPECT_EQ(answer_to_peer(1001).reason, close_reason::peer_closed);
  EXPECT_EQ(answer_to_peer(1001).text, "");
}

TEST(CloseReason, TheFrameLayersVerdictKeepsItsCodeAndText) {
  const auto utf8 = frame_error(1007, "text is not valid UTF-8");
  EXPECT_EQ(utf8.reason, close_reason::invalid_payload);
  EXPECT_EQ(utf8.code, 1007);
  EXPECT_EQ(utf8.text, "text is not valid UTF-8");
  EXPECT_EQ(frame_error(1002, "x").reason, close_reason::protocol_error);
  EXPECT_EQ(frame_error(1009, "message too big").reason, close_reason::frame_too_big);
}

}  // namespace
}  // namespace sb::gateway
