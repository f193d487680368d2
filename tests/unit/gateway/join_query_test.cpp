// join_query_test.cpp — ?history= and ?since= at the handshake: what is
// replayed, what is clamped, and each refusal's reason.
#include <gtest/gtest.h>

#include "gateway/join_query.hpp"

namespace sb::gateway {
namespace {

TEST(JoinQuery, NoQueryOrOtherParametersAskForNoReplay) {
  for (const char* t : {"/ws/chat/a/", "/ws/chat/a/?", "/ws/chat/a/?token=x.y.z", "/ws/chat/a/?presence=1&x"}) {
    auto q = parse_join_query(t);
    EXPECT_FALSE(q.refusal) << t;
    EXPECT_FALSE(q.replay()) << t;
  }
}

TEST(JoinQuery, HistoryAsksForTheLastKClampedToTheBound) {
  auto q = parse_join_query("/ws/chat/a/?history=25&token=abc");
  EXPECT_FALSE(q.refusal);
  EXPECT_EQ(q.count, 25u);
  EXPECT_TRUE(q.since.empty());
  EXPECT_EQ(parse_join_query("/?history=1000000").count, 1000u);
  EXPECT_EQ(parse_join_query("/?history=99999999999999999999999999").count, 1000u);
  auto zero = parse_join_query("/?history=0");
  EXPECT_FALSE(zero.refusal);
  EXPECT_FALSE(zero.replay());
}

TEST(JoinQuery, SinceAsksForWhatFollowedAndWinsOverHistory) {
  auto q = parse_join_query("/ws/chat/a/?history=5&since=1700000000000-2");
  EXPECT_FALSE(q.refusal);
  EXPECT_EQ(q.since, "1700000000000-2");
  EXPECT_EQ(q.count, 1000u);
  EXPECT_TRUE(q.replay());
}

TEST(JoinQuery, RefusesRepeatedAndMalformedValuesWithAReason) {
  struct bad {
    const char* target;
    join_query_refusal reason;
  };
  for (const auto& b : {bad{"/?history=1&history=2", join_query_refusal::history_repeated},
                        bad{"/?history=", join_query_refusal::history_malformed},
                        bad{"/?history", join_query_refusal::history_malformed},
                        bad{"/?history=-1", join_query_refusal::history_malformed},
                        bad{"/?history=1e3", join_query_refusal::history_malformed},
                        bad{"/?history=%zz", join_query_refusal::history_malformed},
                        bad{"/?history=%2D1", join_query_refusal::history_malformed},
                        bad{"/?since=1-0&since=2-0", join_query_refusal::since_repeated},
                        bad{"/?since=", join_query_refusal::since_malformed},
                        bad{"/?since=abc", join_query_refusal::since_malformed},
                        bad{"/?since=1%", join_query_refusal::since_malformed},
                        bad{"/?since=1%2D0%2D0", join_query_refusal::since_malformed},
                        bad{"/?since=1-0-0", join_query_refusal::since_malformed},
                        bad{"/?since=99999999999999999999999-0", join_query_refusal::since_malformed}}) {
    auto q = parse_join_query(b.target);
    ASSERT_TRUE(q.refusal) << b.target;
    EXPECT_EQ(*q.refusal, b.reason) << b.target;
    EXPECT_FALSE(q.detail.empty());
    EXPECT_FALSE(q.replay());
  }
  EXPECT_EQ(join_query_refusal_name(join_query_refusal::since_malformed), "since_malformed");
}

// Values are percent-decoded as in any URL (and as ?token= and ?presence=).
TEST(JoinQuery, ValuesArePercentDecoded) {
  EXPECT_EQ(parse_join_query("/?history=%31%32").count, 12u);
  auto q = parse_join_query("/?since=17%2D3");
  EXPECT_FALSE(q.refusal);
  EXPECT_EQ(q.since, "17-3");
}

TEST(JoinQuery, AHugeQueryIsReadInFull) {
  std::string target = "/?";
  for (int i = 0; i < 10000; ++i) target += "x=1&";
  target += "history=3";
  auto q = parse_join_query(target);
  EXPECT_FALSE(q.refusal);
  EXPECT_EQ(q.count, 3u);
}

}  // namespace
}  // namespace sb::gateway
