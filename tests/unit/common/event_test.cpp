// event_test.cpp — browser JSON → msgpack events → browser JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/event.hpp"

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

TEST(ErrorFrame, IsJsonWithCodeAndDetail) {
  auto j = nlohmann::json::parse(error_frame({"bad_json", "frame is not valid JSON"}));
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["code"], "bad_json");
  EXPECT_EQ(j["detail"], "frame is not valid JSON");
}

}  // namespace
}  // namespace sb::common
