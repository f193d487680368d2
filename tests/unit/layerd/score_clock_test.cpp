// score_clock_test.cpp — inbox scores strictly increase, whatever the clock does.
#include <gtest/gtest.h>

#include <string>

#include "layerd/score_clock.hpp"

namespace sb::layerd {
namespace {

TEST(ScoreClock, FollowsTheClockWithSixDecimals) {
  score_clock c;
  EXPECT_EQ(c.next(1700000000.25), "1700000000.250000");
  EXPECT_EQ(c.next(1700000001.000001), "1700000001.000001");
}

TEST(ScoreClock, SameMicrosecondGetsTheNextOne) {
  score_clock c;
  EXPECT_EQ(c.next(1700000000.5), "1700000000.500000");
  EXPECT_EQ(c.next(1700000000.5), "1700000000.500001");
  EXPECT_EQ(c.next(1700000000.5000004), "1700000000.500002");
}

TEST(ScoreClock, ClockStepsBackStillIncrease) {
  score_clock c;
  EXPECT_EQ(c.next(1700000010.999999), "1700000010.999999");
  EXPECT_EQ(c.next(1700000000.0), "1700000011.000000");  // carries into the seconds
  EXPECT_EQ(c.next(1700000011.5), "1700000011.500000");  // the clock passed it again
}

TEST(ScoreClock, ManyWritesInOneInstantAreStrictlyIncreasingText) {
  score_clock c;
  std::string last;
  for (int i = 0; i < 10000; ++i) {
    auto s = c.next(1700000000.0);
    if (!last.empty()) {
      EXPECT_LT(std::stod(last), std::stod(s));
      EXPECT_LT(last, s);  // same length: text order is numeric order
    }
    last = s;
  }
}

}  // namespace
}  // namespace sb::layerd
