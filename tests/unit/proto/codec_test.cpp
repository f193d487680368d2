// codec_test.cpp — proto round-trips and every malformed body decode must refuse.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "tests/unit/proto/codec_test_util.hpp"

namespace sb::proto {
namespace {

TEST(Codec, HelloRoundTrips) {
  auto m = std::get<hello>(round_trip(hello{1, 2, "gw.abc"}));
  EXPECT_EQ(m.major, 1u);
  EXPECT_EQ(m.minor, 2u);
  EXPECT_EQ(m.gateway_id, "gw.abc");
}

TEST(Codec, GroupAddAndDiscardRoundTrip) {
  auto a = std::get<group_add>(round_trip(group_add{42, "chat_lobby", "specific.gw.x!1"}));
  EXPECT_EQ(a.request, 42u);
  EXPECT_EQ(a.group, "chat_lobby");
  EXPECT_EQ(a.channel, "specific.gw.x!1");
  auto d = std::get<group_discard>(round_trip(group_discard{"g", "c"}));
  EXPECT_EQ(d.group, "g");
  EXPECT_EQ(d.channel, "c");
}

TEST(Codec, EventBytesSurviveUntouched) {
  std::string ev("\x81\xa4type\xa1x\x00\xff", 10);
  auto s = std::get<group_send>(round_trip(group_send{"g", ev}));
  EXPECT_EQ(s.event, ev);
  auto d = std::get<deliver>(round_trip(deliver{{"1", "2", "ff"}, ev}));
  EXPECT_EQ(d.targets, (std::vector<std::string>{"1", "2", "ff"}));
  EXPECT_EQ(d.event, ev);
  auto gd = std::get<group_deliver>(round_trip(group_deliver{"chat_lobby", ev}));
  EXPECT_EQ(gd.group, "chat_lobby");
  EXPECT_EQ(gd.event, ev);
  auto sd = std::get<send>(round_trip(send{"specific.a!b", ev}));
  EXPECT_EQ(sd.channel, "specific.a!b");
  EXPECT_EQ(sd.event, ev);
}

TEST(Codec, SyncErrorAckWelcomeHeartbeatRoundTrip) {
  sync s;
  s.groups.push_back({"chat_a", {"specific.g!1", "specific.g!2"}});
  s.groups.push_back({"chat_b", {}});
  auto back = std::get<sync>(round_trip(s));
  ASSERT_EQ(back.groups.size(), 2u);
  EXPECT_EQ(back.groups[0].second.size(), 2u);
  EXPECT_TRUE(back.groups[1].second.empty());
  auto e = std::get<error>(round_trip(error{7, "bad_name", "nope"}));
  EXPECT_EQ(e.request, 7u);
  EXPECT_EQ(e.code, "bad_name");
  EXPECT_EQ(std::get<ack>(round_trip(ack{9})).request, 9u);
  EXPECT_EQ(std::get<welcome>(round_trip(welcome{1, 0, "L"})).layerd_id, "L");
  EXPECT_TRUE(std::holds_alternative<heartbeat>(round_trip(heartbeat{})));
}

TEST(Codec, SendCarriesItsRequestSince13) {
  std::string ev("\x81\xa4type\xa1x", 7);
  auto s = std::get<send>(round_trip(send{"W", ev, 77}));
  EXPECT_EQ(s.request, 77u);
  // request 0 is the 1.2 form: two fields, so an older layerd reads it as before
  EXPECT_EQ(encode(send{"W", ev}), encode(send{"W", ev, 0}));
  EXPECT_EQ(std::get<send>(round_trip(send{"W", ev})).request, 0u);
  const auto two = packed([&](auto& pk) {
    pk.pack_array(2);
    pk.pack(std::string("W"));
    pk.pack_bin(static_cast<std::uint32_t>(ev.size()));
    pk.pack_bin_body(ev.data(), static_cast<std::uint32_t>(ev.size()));
  });
  auto old = decode(static_cast<std::uint8_t>(kind::send), two);
  ASSERT_TRUE(old);
  EXPECT_EQ(std::get<send>(old.value()).request, 0u);
  // a request that is not an unsigned integer is refused
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send), packed([&](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("W"));
    pk.pack_bin(0);
    pk.pack(std::string("1"));
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send), packed([&](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("W"));
    pk.pack_bin(0);
    pk.pack(-5);
  })));
}

TEST(Codec, SendCarriesItsFlagsSince14) {
  std::string ev("\x81\xa4type\xa1x", 7);
  auto s = std::get<send>(round_trip(send{"chat", ev, 9, send_every_host}));
  EXPECT_EQ(s.request, 9u);
  EXPECT_EQ(s.flags, static_cast<std::uint32_t>(send_every_host));
  // flags without a request still carry the request field (0)
  auto f = std::get<send>(round_trip(send{"chat", ev, 0, send_every_host}));
  EXPECT_EQ(f.request, 0u);
  EXPECT_EQ(f.flags, static_cast<std::uint32_t>(send_every_host));
  // flags 0 is the 1.3 form: a 1.3 layerd reads the same bytes as before
  EXPECT_EQ(encode(send{"W", ev, 77}), encode(send{"W", ev, 77, 0}));
  EXPECT_EQ(std::get<send>(round_trip(send{"W", ev, 77})).flags, 0u);
  // flags that are not an unsigned 32-bit integer are refused
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send), packed([&](auto& pk) {
    pk.pack_array(4);
    pk.pack(std::string("W"));
    pk.pack_bin(0);
    pk.pack(1);
    pk.pack(std::string("1"));
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send), packed([&](auto& pk) {
    pk.pack_array(4);
    pk.pack(std::string("W"));
    pk.pack_bin(0);
    pk.pack(1);
    pk.pack(std::uint64_t{1} << 40);
  })));
}

TEST(Codec, NumberedGroupSendsAcksAndOrigins) {
  std::string ev("\x81\xa4type\xa1x", 7);
  auto s = std::get<group_send>(round_trip(group_send{"g", ev, 7, 1234}));
  EXPECT_EQ(s.seq, 7u);
  EXPECT_EQ(s.id, 1234u);
  auto plain = std::get<group_send>(round_trip(group_send{"g", ev}));  // a 1.1 peer or the CLI
  EXPECT_EQ(plain.seq, 0u);
  EXPECT_EQ(plain.id, 0u);
  EXPECT_EQ(encode(group_send{"g", ev}), encode(group_send{"g", ev, 0, 0}));
  auto d = std::get<group_deliver>(round_trip(group_deliver{"g", ev, "gw.0123", 99}));
  EXPECT_EQ(d.origin, "gw.0123");
  EXPECT_EQ(d.id, 99u);
  EXPECT_TRUE(std::get<group_deliver>(round_trip(group_deliver{"g", ev})).origin.empty());
  EXPECT_EQ(std::get<send_ack>(round_trip(send_ack{42})).seq, 42u);
  EXPECT_EQ(kind_name(13), std::string("send_ack"));
  // wrong types are refused
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send_ack), packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack(-1);
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::send_ack), packed([](auto& pk) { pk.pack_array(0); })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::group_send), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("g"));
    pk.pack_bin(0);
    pk.pack(std::string("seq"));
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::group_deliver), packed([](auto& pk) {
    pk.pack_array(4);
    pk.pack(std::string("g"));
    pk.pack_bin(0);
    pk.pack(1);
    pk.pack(1);
  })));
  EXPECT_FALSE(decode(200, packed([](auto& pk) { pk.pack_array(0); })));
}

TEST(Codec, SyncCarriesMovedGroups) {
  sync s;
  s.groups.push_back({"chat_a", {"specific.g!1"}});
  s.moved = {"chat_b", "chat_c"};
  auto back = std::get<sync>(round_trip(s));
  ASSERT_EQ(back.groups.size(), 1u);
  EXPECT_EQ(back.groups[0].first, "chat_a");
  EXPECT_EQ(back.moved, (std::vector<std::string>{"chat_b", "chat_c"}));
  // a 1.1 SYNC (no third field) has nothing moved; a third field 0 is a normal entry
  auto old = decode(static_cast<std::uint8_t>(kind::sync), packed([](auto& pk) {
    pk.pack_array(2);
    pk.pack_array(2);
    pk.pack(std::string("chat_a"));
    pk.pack_array(0);
    pk.pack_array(3);
    pk.pack(std::string("chat_b"));
    pk.pack_array(0);
    pk.pack(0);
  }));
  ASSERT_TRUE(old);
  EXPECT_EQ(std::get<sync>(old.value()).groups.size(), 2u);
  EXPECT_TRUE(std::get<sync>(old.value()).moved.empty());
  // the flag must be an unsigned integer
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::sync), packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack_array(3);
    pk.pack(std::string("chat_b"));
    pk.pack_array(0);
    pk.pack(std::string("yes"));
  })));
}

TEST(Codec, DecodeAcceptsExtraTrailingFields) {
  auto body = packed([](auto& pk) {
    pk.pack_array(6);
    pk.pack(1);
    pk.pack(1);
    pk.pack(std::string("gw"));
    pk.pack(1);      // role: client
    pk.pack(false);  // sole (1.6)
    pk.pack(std::string("future field"));
  });
  auto m = decode(static_cast<std::uint8_t>(kind::hello), body);
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<hello>(m.value()).gateway_id, "gw");
  EXPECT_EQ(std::get<hello>(m.value()).role, peer_role::client);
}

TEST(Codec, HelloCarriesThePeerRole) {
  EXPECT_EQ(std::get<hello>(round_trip(hello{1, 1, "cli.x", peer_role::client})).role, peer_role::client);
  EXPECT_EQ(std::get<hello>(round_trip(hello{1, 1, "gw.x"})).role, peer_role::gateway);
}

TEST(Codec, AHelloWithoutRoleIsAGateways) {
  // What a 1.0 gateway sends.
  auto m = decode(static_cast<std::uint8_t>(kind::hello), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(0);
    pk.pack(std::string("gw"));
  }));
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<hello>(m.value()).role, peer_role::gateway);
}

TEST(Codec, DecodeRefusesABadRole) {
  auto with_role = [](auto role) {
    return packed([role](auto& pk) {
      pk.pack_array(4);
      pk.pack(1);
      pk.pack(1);
      pk.pack(std::string("gw"));
      pk.pack(role);
    });
  };
  const auto k = static_cast<std::uint8_t>(kind::hello);
  EXPECT_FALSE(decode(k, with_role(2)));                        // unknown role
  EXPECT_FALSE(decode(k, with_role(-1)));                       // not unsigned
  EXPECT_FALSE(decode(k, with_role(std::string("client"))));    // not a number
  EXPECT_FALSE(decode(k, with_role(std::uint64_t{1} << 40)));  // out of range
}

TEST(Codec, DecodeRefusesUnknownKinds) {
  EXPECT_FALSE(decode(0, encode(heartbeat{})));
  EXPECT_FALSE(decode(13, encode(heartbeat{})));
  EXPECT_FALSE(decode(255, encode(heartbeat{})));
}

TEST(Codec, DecodeRefusesEmptyTruncatedAndGarbageBodies) {
  const auto k = static_cast<std::uint8_t>(kind::group_add);
  EXPECT_FALSE(decode(k, ""));
  auto body = encode(group_add{1, "chat_lobby", "specific.g!1"});
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(decode(k, std::string_view(body).substr(0, n))) << "prefix of " << n << " bytes";
  }
  EXPECT_FALSE(decode(k, "\xc1"));                 // never-used msgpack byte
  EXPECT_FALSE(decode(k, body + "x"));             // trailing bytes
  EXPECT_FALSE(decode(k, std::string("\xdd\xff\xff\xff\xff", 5)));  // array of 4 billion, no bytes
  EXPECT_FALSE(decode(k, std::string("\xdf\x7f\xff\xff\xff", 5)));  // map of 2 billion, no bytes
}

TEST(Codec, DecodeRefusesWrongShapes) {
  const auto add = static_cast<std::uint8_t>(kind::group_add);
  // not an array
  EXPECT_FALSE(decode(add, packed([](auto& pk) { pk.pack(std::string("hello")); })));
  // too few fields
  EXPECT_FALSE(decode(add, packed([](auto& pk) {
    pk.pack_array(2);
    pk.pack(1);
    pk.pack(std::string("g"));
  })));
  // wrong field types: request as string, group as int, channel as bin
  EXPECT_FALSE(decode(add, packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::string("1"));
    pk.pack(std::string("g"));
    pk.pack(std::string("c"));
  })));
  EXPECT_FALSE(decode(add, packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(5);
    pk.pack(std::string("c"));
  })));
  EXPECT_FALSE(decode(add, packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(-1);
    pk.pack(std::string("g"));
    pk.pack(std::string("c"));
  })));
  // group_send event must be bin, not str
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::group_send), packed([](auto& pk) {
    pk.pack_array(2);
    pk.pack(std::string("g"));
    pk.pack(std::string("event as str"));
  })));
  // deliver targets must be strings
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::deliver), packed([](auto& pk) {
    pk.pack_array(2);
    pk.pack_array(1);
    pk.pack(1);
    pk.pack_bin(0);
  })));
  // sync entries must be [group, [channels]]
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::sync), packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack(std::string("g"));
  })));
  // hello major beyond 32 bits
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::hello), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(std::uint64_t{1} << 40);
    pk.pack(0);
    pk.pack(std::string("gw"));
  })));
}

TEST(Codec, DecodeRefusesDeepNesting) {
  std::string deep(100, '\x91');  // 100 nested one-element arrays
  deep += '\xc0';
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::sync), deep));
}

TEST(Codec, RandomBytesNeverCrashDecode) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    const int len = static_cast<int>(x % 40);
    for (int j = 0; j < len; ++j) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      body += static_cast<char>(x & 0xff);
    }
    for (std::uint8_t k = 1; k <= 12; ++k) (void)decode(k, body);  // must return, not crash or throw
  }
  SUCCEED();
}

}  // namespace
}  // namespace sb::proto

namespace sb::proto {
namespace {

TEST(CodecHistory, HistoryGetAndHistoryRoundTrip) {
  auto g = std::get<history_get>(round_trip(history_get{9, "chat_a", 100, "1700000000000-3"}));
  EXPECT_EQ(g.request, 9u);
  EXPECT_EQ(g.group, "chat_a");
  EXPECT_EQ(g.count, 100u);
  EXPECT_EQ(g.since, "1700000000000-3");
  auto none = std::get<history_get>(round_trip(history_get{1, "chat_a", 5, ""}));
  EXPECT_TRUE(none.since.empty());
  const std::string event = "\x81\xa4type\xa1x";
  auto h = std::get<history>(round_trip(history{9, true, {event, event}}));
  EXPECT_EQ(h.request, 9u);
  EXPECT_TRUE(h.complete);
  EXPECT_EQ(h.events, (std::vector<std::string>{event, event}));
  EXPECT_FALSE(std::get<history>(round_trip(history{3, false, {}})).complete);
}

TEST(CodecHistory, RefusesACountOverTheBoundAMalformedSinceAndABadAnswer) {
  auto get = [](std::uint64_t count, const std::string& since) {
    return decode(static_cast<std::uint8_t>(kind::history_get), packed([&](auto& pk) {
                    pk.pack_array(4);
                    pk.pack(1);
                    pk.pack(std::string("chat_a"));
                    pk.pack(count);
                    pk.pack(since);
                  }));
  };
  EXPECT_TRUE(get(1000, "1-0"));
  EXPECT_FALSE(get(1001, ""));
  EXPECT_FALSE(get(std::uint64_t{1} << 40, ""));
  for (const char* bad : {"x", "1", "1-", "-1", "01-0", "1-0-0", "1 -0", "+1-0", "18446744073709551616-0"}) {
    auto r = get(5, bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error_text().find("since"), std::string::npos) << r.error_text();
    }
  }
  // complete must be a boolean; events a list of bin
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::history), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(1);
    pk.pack_array(0);
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::history), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(true);
    pk.pack_array(1);
    pk.pack(std::string("not bin"));
  })));
  // more events than one answer may carry
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::history), packed([](auto& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(true);
    pk.pack_array(1001);
    for (int i = 0; i < 1001; ++i) pk.pack_bin(0);
  })));
}

}  // namespace
}  // namespace sb::proto
