// stream_id_test.cpp — history ids: strict parsing of what browsers hand
// back, and ids that keep growing when the clock goes back or stands still.
#include <gtest/gtest.h>

#include "common/stream_id.hpp"

namespace sb::common {
namespace {

TEST(StreamId, ParsesTwoDecimalNumbersAndPrintsThemBack) {
  auto id = parse_stream_id("1700000000123-7");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ms, 1700000000123u);
  EXPECT_EQ(id->seq, 7u);
  EXPECT_EQ(id->text(), "1700000000123-7");
  EXPECT_EQ(parse_stream_id("0-0")->text(), "0-0");
  EXPECT_EQ(parse_stream_id("18446744073709551615-18446744073709551615")->seq, 18446744073709551615u);
}

TEST(StreamId, RefusesAnythingElse) {
  for (const char* bad : {"", "-", "1", "1-", "-1", "a-1", "1-a", "01-1", "1-01", "1-1-1", " 1-1", "1-1 ", "+1-1",
                          "1--1", "18446744073709551616-0", "1-18446744073709551616", "1.5-0", "１-1"}) {
    EXPECT_FALSE(parse_stream_id(bad)) << bad;
  }
  EXPECT_FALSE(parse_stream_id(std::string(100, '1') + "-1"));
}

TEST(StreamId, OrdersByTimeThenSequence) {
  EXPECT_LT(*parse_stream_id("5-9"), *parse_stream_id("6-0"));
  EXPECT_LT(*parse_stream_id("6-0"), *parse_stream_id("6-1"));
  EXPECT_EQ(*parse_stream_id("6-1"), (stream_id{6, 1}));
}

TEST(StreamId, NextGrowsWhenTheClockGoesOnStandsStillOrGoesBack) {
  stream_id last{1000, 4};
  EXPECT_EQ(stream_id::next(last, 1001), (stream_id{1001, 0}));  // the clock moved on
  EXPECT_EQ(stream_id::next(last, 1000), (stream_id{1000, 5}));  // same millisecond
  EXPECT_EQ(stream_id::next(last, 10), (stream_id{1000, 5}));    // the clock went back
  stream_id a{0, 0};
  for (int i = 0; i < 100; ++i) {
    const auto b = stream_id::next(a, static_cast<std::uint64_t>(500 - (i % 7) * 50));
    EXPECT_LT(a, b);
    a = b;
  }
}

}  // namespace
}  // namespace sb::common
