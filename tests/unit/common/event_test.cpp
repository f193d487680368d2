// event_test.cpp — browser JSON → msgpack events → browser JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <msgpack.hpp>

#include "common/event.hpp"
#include "common/limits.hpp"

namespace sb::common {
namespace {

TEST(ChatEvent, MessageBecomesChatMessageEvent) {
  auto p = chat_event_from_browser(R"({"message": "hi"})");
  ASSERT_TRUE(p.ok);
  // Same bytes Django's msgpack would write for {"type": "chat.message", "message": "hi"}.
  EXPECT_EQ(p.event, std::string("\x82\xa4type\xac" "chat.message\xa7message\xa2hi"));
  auto type = event_type(p.event);
  ASSERT_TRUE(type);
  EXPECT_EQ(type.value(), "chat.message");
}

TEST(ChatEvent, ExtraKeysAreIgnoredAndUnicodeKept) {
  auto p = chat_event_from_browser(R"({"message": "로비 \u00e9", "other": [1,2]})");
  ASSERT_TRUE(p.ok);
  auto frame = browser_frame_for_event(p.event);
  ASSERT_TRUE(frame);
  EXPECT_EQ(nlohmann::json::parse(frame.value()), nlohmann::json({{"message", "로비 é"}}));
}

TEST(ChatEvent, NotJsonIsBadJson) {
  for (const char* text : {"", "nope", "{", "{\"message\": \"x\"", "\xff\xfe"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_FALSE(p.ok) << text;
    EXPECT_EQ(p.error.code, "bad_json") << text;
  }
}

TEST(ChatEvent, JsonThatIsNotAnObjectIsBadJson) {
  for (const char* text : {"[]", "\"message\"", "42", "null"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.error.code, "bad_json") << text;
  }
}

TEST(ChatEvent, MissingOrNonStringMessageIsBadMessage) {
  for (const char* text : {"{}", R"({"msg": "x"})", R"({"message": 1})", R"({"message": null})",
                           R"({"message": ["x"]})", R"({"message": {"a": 1}})"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_FALSE(p.ok) << text;
    EXPECT_EQ(p.error.code, "bad_message") << text;
  }
}

TEST(ChatEvent, DeeplyNestedJsonDoesNotCrash) {
  std::string deep = "{\"message\": \"x\", \"n\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto p = chat_event_from_browser(deep);
  EXPECT_TRUE(p.ok);
}

TEST(BrowserFrame, TheSeedsChatUnderscoreMessageTypeIsTheChatHandlerToo) {
  auto ev = event_from_json(R"({"type": "chat_message", "message": "from django"})");
  ASSERT_TRUE(ev);
  auto frame = browser_frame_for_event(ev.value());
  ASSERT_TRUE(frame);
  EXPECT_EQ(nlohmann::json::parse(frame.value()), nlohmann::json({{"message", "from django"}}));
}

TEST(BrowserFrame, OtherEventTypesAreSentWhole) {
  auto ev = event_from_json(R"({"type": "notify", "data": {"n": 3}})");
  ASSERT_TRUE(ev);
  auto frame = browser_frame_for_event(ev.value());
  ASSERT_TRUE(frame);
  EXPECT_EQ(nlohmann::json::parse(frame.value()), nlohmann::json::parse(R"({"type": "notify", "data": {"n": 3}})"));
}

TEST(BrowserFrame, InvalidUtf8InAnEventIsReplacedNotFatal) {
  const std::string ev = std::string("\x82\xa4type\xac" "chat.message\xa7message\xa2") + "\xff\xfe";
  auto frame = browser_frame_for_event(ev);
  ASSERT_TRUE(frame);
  auto j = nlohmann::json::parse(frame.value());
  EXPECT_EQ(j["message"], "\xEF\xBF\xBD\xEF\xBF\xBD");  // two U+FFFD
}

TEST(EventType, RefusesMalformedEvents) {
  EXPECT_FALSE(event_type(""));
  EXPECT_FALSE(event_type("\x91\xa1x"));                      // array, not map
  EXPECT_FALSE(event_type("\x81\xa1x\xa1y"));                  // no type
  EXPECT_FALSE(event_type("\x81\xa4type\x05"));                // type not a string
  EXPECT_FALSE(event_type("\x81\xa4type\xa1x" "extra"));       // trailing bytes
  EXPECT_FALSE(event_type(std::string("\x81\xa4type", 6)));    // truncated
  std::string deep = "\x82\xa4type\xa1x\xa1n" + std::string(64, '\x91') + "\xc0";
  EXPECT_FALSE(event_type(deep));                               // nesting over the limit
  EXPECT_FALSE(event_type(std::string("\xdf\xff\xff\xff\xff", 5)));  // bogus map size
}

TEST(EventFromJson, NeedsAnObjectWithStringType) {
  EXPECT_FALSE(event_from_json("nope"));
  EXPECT_FALSE(event_from_json("[1]"));
  EXPECT_FALSE(event_from_json(R"({"message": "x"})"));
  EXPECT_FALSE(event_from_json(R"({"type": 3})"));
  EXPECT_TRUE(event_from_json(R"({"type": "chat.message", "message": "x"})"));
}

// msgpack of {"type": "notify", "data": {k0: 0, k1: 1, ...}} with n keys.
std::string many_keys_event(std::size_t n) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("notify"));
  pk.pack(std::string_view("data"));
  pk.pack_map(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    std::string key = std::to_string(i);
    key.insert(key.begin(), 'k');
    pk.pack(key);
    pk.pack(i);
  }
  return std::string(buf.data(), buf.size());
}

TEST(CheckEvent, EachBoundIsNamedAndSizeBoundsAreTooLarge) {
  // Items: the event map's 2 entries plus the inner map's.
  auto at_limit = check_event(many_keys_event(limits::max_event_items - 2));
  EXPECT_TRUE(at_limit.ok) << at_limit.problem;
  EXPECT_EQ(at_limit.type, "notify");
  auto over = check_event(many_keys_event(limits::max_event_items - 1));
  EXPECT_FALSE(over.ok);
  EXPECT_TRUE(over.too_large);
  EXPECT_NE(over.problem.find("map entries and array items"), std::string::npos) << over.problem;

  const std::string huge = std::string("\x82\xa4type\xa1x\xa1s\xdb", 10) + "\x00\x10\x00\x01" +
                           std::string(limits::max_event_bytes - 9, 'a');
  auto big = check_event(huge);
  EXPECT_FALSE(big.ok);
  EXPECT_TRUE(big.too_large);

  const std::string long_key = std::string(limits::max_event_key_bytes + 1, 'k');
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("x"));
  pk.pack(long_key);
  pk.pack_nil();
  auto key = check_event(std::string_view(buf.data(), buf.size()));
  EXPECT_FALSE(key.ok);
  EXPECT_TRUE(key.too_large);
  EXPECT_NE(key.problem.find("key"), std::string::npos);

  std::string deep = "\x82\xa4type\xa1x\xa1n" + std::string(limits::max_event_depth - 1, '\x91') + "\xc0";
  EXPECT_TRUE(check_event(deep).ok);  // the event map plus 31 arrays: 32 levels
  deep = "\x82\xa4type\xa1x\xa1n" + std::string(limits::max_event_depth, '\x91') + "\xc0";
  auto too_deep = check_event(deep);
  EXPECT_FALSE(too_deep.ok);
  EXPECT_FALSE(too_deep.too_large);
  EXPECT_NE(too_deep.problem.find("deeper"), std::string::npos);
}

TEST(CheckEvent, KeysMustBeStringsAndTheLastTypeCounts) {
  EXPECT_FALSE(check_event("\x82\xa4type\xa1x\x01\x02").ok);              // an integer key
  EXPECT_FALSE(check_event("\x82\xa4type\xa1x\x91\xa1k\x02").ok);          // an array as a key
  EXPECT_FALSE(check_event("\x82\xa4type\xa1x\xa1n\x81\x05\x06").ok);      // a nested integer key
  auto twice = check_event("\x82\xa4type\xa1x\xa4type\xa1y");
  ASSERT_TRUE(twice.ok);
  EXPECT_EQ(twice.type, "y");  // as Python's dict keeps it
  EXPECT_FALSE(check_event("\x82\xa4type\xa1x\xa4type\x05").ok);
}

TEST(BrowserFrame, KeysKeepTheirOrderAndARepeatedKeyTakesTheLastValueInTheFirstPlace) {
  // {"type": "n", "b": 1, "a": 2, "b": 3}, the inner map of 10 keys (hash index) likewise.
  auto frame = browser_frame_for_event("\x84\xa4type\xa1n\xa1" "b\x01\xa1" "a\x02\xa1" "b\x03");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame.value(), R"({"type":"n","b":3,"a":2})");
  std::string ev = "\x82\xa4type\xa1n\xa1" "d\x8b";
  for (int i = 9; i >= 0; --i) ev += std::string("\xa1") + static_cast<char>('0' + i) + static_cast<char>(i);
  ev += std::string("\xa1") + "9" + "\x7f";
  frame = browser_frame_for_event(ev);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame.value(), R"({"type":"n","d":{"9":127,"8":8,"7":7,"6":6,"5":5,"4":4,"3":3,"2":2,"1":1,"0":0}})");
}

TEST(BrowserFrame, SameTextAsNlohmannsOwnConversion) {
  // Floats, both integer signs, nil, bool, bin, ext, nesting: what the
  // earlier conversion (nlohmann's from_msgpack) printed.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(9);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("notify"));
  pk.pack(std::string_view("f"));
  pk.pack_double(0.1);
  pk.pack(std::string_view("g"));
  pk.pack_float(1.5f);
  pk.pack(std::string_view("u"));
  pk.pack_uint64(18446744073709551615ull);
  pk.pack(std::string_view("i"));
  pk.pack_int64(-9223372036854775807ll - 1);
  pk.pack(std::string_view("z"));
  pk.pack_array(3);
  pk.pack_nil();
  pk.pack_true();
  pk.pack_double(1e100);
  pk.pack(std::string_view("b"));
  pk.pack_bin(2);
  pk.pack_bin_body("\x01\xff", 2);
  pk.pack(std::string_view("e"));
  pk.pack_ext(1, -3);
  pk.pack_ext_body("\x07", 1);
  pk.pack(std::string_view("s"));
  pk.pack(std::string_view("tab\t\"q\" \xe1\x84\x80"));
  const std::string ev(buf.data(), buf.size());
  auto frame = browser_frame_for_event(ev);
  ASSERT_TRUE(frame);
  const auto reference = nlohmann::ordered_json::from_msgpack(ev).dump(-1, ' ', false,
                                                                        nlohmann::json::error_handler_t::replace);
  EXPECT_EQ(frame.value(), reference);
}

TEST(EventFromJson, KeepsKeyOrderAndChecksTheBoundsWhileParsing) {
  auto ev = event_from_json(R"({"type": "notify", "z": [1, -2, 2.5, null, true, {"y": "é"}], "a": {}})");
  ASSERT_TRUE(ev);
  auto frame = browser_frame_for_event(ev.value());
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame.value(), R"({"type":"notify","z":[1,-2,2.5,null,true,{"y":"é"}],"a":{}})");

  std::string many = R"({"type": "notify", "data": [)";
  for (std::size_t i = 0; i < limits::max_event_items; ++i) many += i ? ",0" : "0";
  many += "]}";
  auto refused = event_from_json_checked(many);  // 2 entries + max items
  EXPECT_FALSE(refused.ok);
  EXPECT_TRUE(refused.too_large);

  std::string deep = R"({"type": "x", "n": )" + std::string(limits::max_event_depth, '[') +
                     std::string(limits::max_event_depth, ']') + "}";
  auto nested = event_from_json_checked(deep);
  EXPECT_FALSE(nested.ok);
  EXPECT_FALSE(nested.too_large);
  EXPECT_NE(nested.problem.find("deeper"), std::string::npos);

  auto big = event_from_json_checked(R"({"type": "x", "s": ")" + std::string(limits::max_event_bytes, 'a') + "\"}");
  EXPECT_FALSE(big.ok);
  EXPECT_TRUE(big.too_large);
  EXPECT_FALSE(event_from_json_checked(R"({"type": "x"} {"type": "y"})").ok);
}

TEST(ChatEvent, TheLastMessageCountsAndNestedOnesDoNot) {
  auto p = chat_event_from_browser(R"({"message": "a", "n": {"message": 5}, "message": "b"})");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(browser_frame_for_event(p.event).value(), R"({"message":"b"})");
  EXPECT_EQ(chat_event_from_browser(R"({"n": {"message": "x"}})").error.code, "bad_message");
}

TEST(ChatEvent, APingIsReadWithoutAnEvent) {
  auto p = chat_event_from_browser(R"({"type": "ping"})");
  EXPECT_TRUE(p.ok);
  EXPECT_TRUE(p.ping);
  EXPECT_TRUE(p.event.empty());
  EXPECT_TRUE(is_ping_frame(R"({"type":"ping"})"));
}

TEST(ChatEvent, APingWithExtraFieldsIsStillAPing) {
  for (const char* text : {R"({"type": "ping", "ref": 7, "n": {"message": "x", "type": "chat"}})",
                           R"({"n": [1, {"type": "pong"}], "type": "ping"})", R"({"type": "x", "type": "ping"})"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_TRUE(p.ok && p.ping) << text;
    EXPECT_TRUE(is_ping_frame(text)) << text;
  }
}

TEST(ChatEvent, AFrameWithAMessageIsAChatMessageWhateverItsType) {
  auto p = chat_event_from_browser(R"({"type": "ping", "message": "hi"})");
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.ping);
  EXPECT_EQ(browser_frame_for_event(p.event).value(), R"({"message":"hi"})");
  EXPECT_EQ(event_type(p.event).value(), "chat.message") << "the frame's type is not the event's";
  EXPECT_FALSE(is_ping_frame(R"({"message": "hi", "type": "ping"})"));
  // A bad message stays a bad message, ping or not.
  auto bad = chat_event_from_browser(R"({"type": "ping", "message": 5})");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.error.code, "bad_message");
}

TEST(ChatEvent, AnyOtherTypeWithoutAMessageIsBadMessage) {
  for (const char* text : {R"({"type": "pong"})", R"({"type": "PING"})", R"({"type": " ping"})", R"({"type": "ping\u0000"})",
                           R"({"type": 1})", R"({"type": null})", R"({"type": ["ping"]})", R"({"type": {"type": "ping"}})",
                           R"({"type": "ping", "type": "chat"})", R"({"n": {"type": "ping"}})", R"({"type": true})"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_FALSE(p.ok) << text;
    EXPECT_FALSE(p.ping) << text;
    EXPECT_EQ(p.error.code, "bad_message") << text;
    EXPECT_FALSE(is_ping_frame(text)) << text;
  }
}

TEST(ChatEvent, APingThatIsNotJsonIsBadJson) {
  for (const char* text : {R"({"type": "ping")", R"({"type": "ping"} {})", R"([{"type": "ping"}])", R"("ping")", "ping"}) {
    auto p = chat_event_from_browser(text);
    EXPECT_FALSE(p.ok) << text;
    EXPECT_EQ(p.error.code, "bad_json") << text;
    EXPECT_FALSE(is_ping_frame(text)) << text;
  }
}

TEST(ChatEvent, ADeeplyNestedPingIsReadInOnePass) {
  const std::string deep = R"({"type": "ping", "n": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(chat_event_from_browser(deep).ping);
  EXPECT_TRUE(is_ping_frame(deep));
  EXPECT_FALSE(is_ping_frame(deep.substr(0, deep.size() - 2))) << "unbalanced";
}

TEST(ErrorFrame, IsJsonWithCodeAndDetail) {
  auto j = nlohmann::json::parse(error_frame({"bad_json", "frame is not valid JSON"}));
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["code"], "bad_json");
  EXPECT_EQ(j["detail"], "frame is not valid JSON");
}

}  // namespace
}  // namespace sb::common
