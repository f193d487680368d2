// popped_sends_codec_test.cpp — proto 1.6: HELLO's sole, DELIVER's applied
// and serial, BATCH_DONE, and the malformed ones decode must refuse.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "common/limits.hpp"
#include "proto/codec.hpp"
#include "tests/unit/proto/codec_test_util.hpp"

namespace sb::proto {
namespace {

TEST(PoppedSendsCodec, HelloCarriesSoleOnlyWhenSet) {
  hello h{1, 6, "gw.x"};
  h.sole = true;
  EXPECT_TRUE(std::get<hello>(round_trip(h)).sole);
  // Not sole: 1.5's body, unchanged.
  EXPECT_FALSE(std::get<hello>(round_trip(hello{1, 6, "gw.x"})).sole);
  EXPECT_EQ(encode(hello{1, 6, "gw.x"}).size() + 1, encode(h).size());
}

TEST(PoppedSendsCodec, DeliverCarriesAppliedAndSerial) {
  auto d = std::get<deliver>(round_trip(deliver{{"ctl"}, "\x81\xa4type\xa1x", {0, 3, 999}, 42}));
  EXPECT_EQ(d.applied, (std::vector<std::uint32_t>{0, 3, 999}));
  EXPECT_EQ(d.serial, 42u);
  // A serial alone (nothing applied: the layerd only asks for BATCH_DONE).
  auto s = std::get<deliver>(round_trip(deliver{{"ctl"}, "\x80", {}, 7}));
  EXPECT_TRUE(s.applied.empty());
  EXPECT_EQ(s.serial, 7u);
  // Neither: the body stays two fields, as before 1.6.
  EXPECT_EQ(encode(deliver{{"ab"}, "\x80"}), encode(deliver{{"ab"}, "\x80", {}, 0}));
  auto plain = std::get<deliver>(round_trip(deliver{{"ab"}, "\x80"}));
  EXPECT_EQ(plain.serial, 0u);
}

std::string deliver_with(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& applied, std::uint64_t serial) {
  return packed([&](auto& pk) {
    pk.pack_array(4);
    pk.pack_array(1);
    pk.pack(std::string("ctl"));
    pk.pack_bin(1);
    pk.pack_bin_body("\x80", 1);
    applied(pk);
    pk.pack(serial);
  });
}

TEST(PoppedSendsCodec, DecodeRefusesBadAppliedLists) {
  const auto k = static_cast<std::uint8_t>(kind::deliver);
  // an index past the batch bound
  EXPECT_FALSE(decode(k, deliver_with([](auto& pk) { pk.pack_array(1); pk.pack(1000); }, 1)));
  // more indices than a batch has messages
  EXPECT_FALSE(decode(k, deliver_with([](auto& pk) {
    pk.pack_array(1001);
    for (int i = 0; i < 1001; ++i) pk.pack(i % 1000);
  }, 1)));
  // not a list, not integers, a negative serial
  EXPECT_FALSE(decode(k, deliver_with([](auto& pk) { pk.pack(std::string("0")); }, 1)));
  EXPECT_FALSE(decode(k, deliver_with([](auto& pk) { pk.pack_array(1); pk.pack(std::string("0")); }, 1)));
  EXPECT_FALSE(decode(k, deliver_with([](auto& pk) { pk.pack_array(1); pk.pack(-1); }, 1)));
  EXPECT_TRUE(decode(k, deliver_with([](auto& pk) { pk.pack_array(1); pk.pack(999); }, 1)));
}

TEST(PoppedSendsCodec, BatchDoneRoundTripsAndIsBounded) {
  auto d = std::get<batch_done>(round_trip(batch_done{9, {"1a", "2b"}}));
  EXPECT_EQ(d.serial, 9u);
  EXPECT_EQ(d.waiting, (std::vector<std::string>{"1a", "2b"}));
  const auto k = static_cast<std::uint8_t>(kind::batch_done);
  batch_done big{1, std::vector<std::string>(common::limits::max_batch_done_waiting + 1, "a")};
  EXPECT_FALSE(decode(k, encode(big)));
  big.waiting.pop_back();
  EXPECT_TRUE(decode(k, encode(big)));
  EXPECT_FALSE(decode(k, packed([](auto& pk) { pk.pack_array(1); pk.pack(1); })));
  EXPECT_FALSE(decode(k, packed([](auto& pk) {
    pk.pack_array(2);
    pk.pack(1);
    pk.pack_array(1);
    pk.pack(5);
  })));
  EXPECT_STREQ(kind_name(k), "batch_done");
}

TEST(PoppedSendsCodec, HelloRefusesASoleThatIsNoBoolean) {
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::hello), packed([](auto& pk) {
    pk.pack_array(5);
    pk.pack(1);
    pk.pack(6);
    pk.pack(std::string("gw"));
    pk.pack(0);
    pk.pack(1);
  })));
}

}  // namespace
}  // namespace sb::proto
