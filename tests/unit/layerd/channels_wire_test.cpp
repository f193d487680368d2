// channels_wire_test.cpp — channels_redis' stored message format, checked
// against message bodies recorded from the real library (the format is in
// docs/django.md, Message format).
#include <gtest/gtest.h>

#include <initializer_list>

#include "common/event.hpp"
#include "layerd/channels_wire.hpp"

namespace sb::layerd::wire {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

const std::string A1 = "specific.0f1e2d3c4b5a69788796a5b4c3d2e1f0!00000000000000000000000000000001";
const std::string A2 = "specific.0f1e2d3c4b5a69788796a5b4c3d2e1f0!00000000000000000000000000000002";
const std::string B1 = "specific.a1b2c3d4e5f60718293a4b5c6d7e8f90!00000000000000000000000000000001";
const std::string hi_event = std::string("\x82\xa4type\xac" "chat.message\xa7message\xa2hi");

TEST(ChannelsWire, GroupSendBodyMatchesTestVectorOne) {
  auto body = encode_body(hi_event, {A1, A2}, channel_field::array);
  ASSERT_TRUE(body);
  EXPECT_EQ(body.value(),
            unhex("83a474797065ac636861742e6d657373616765a76d657373616765a26869b05f5f617367695f6368616e6e656c5f5f92d94a"
                  "73706563696669632e3066316532643363346235613639373838373936613562346333643265316630213030303030303030"
                  "303030303030303030303030303030303030303030303031d94a73706563696669632e306631653264336334623561363937"
                  "3838373936613562346333643265316630213030303030303030303030303030303030303030303030303030303030303032"));
  auto other = encode_body(hi_event, {B1}, channel_field::array);
  ASSERT_TRUE(other);
  EXPECT_EQ(other.value(),
            unhex("83a474797065ac636861742e6d657373616765a76d657373616765a26869b05f5f617367695f6368616e6e656c5f5f91d94a"
                  "73706563696669632e6131623263336434653566363037313832393361346235633664376538663930213030303030303030"
                  "303030303030303030303030303030303030303030303031"));
}

TEST(ChannelsWire, NormalChannelGetsAOneElementArrayAsInTestVectorTwo) {
  auto body = encode_body(hi_event, {"plainchan"}, channel_field::array);
  ASSERT_TRUE(body);
  EXPECT_EQ(body.value(), unhex("83a474797065ac636861742e6d657373616765a76d657373616765a26869b05f5f617367695f6368616e"
                                "6e656c5f5f91a9706c61696e6368616e"));
}

TEST(ChannelsWire, DirectSendCarriesAStringAsInTestVectorThree) {
  auto ev = common::event_from_json(R"({"type": "chat.message", "message": "to-a1"})");
  ASSERT_TRUE(ev);
  auto body = encode_body(ev.value(), {A1}, channel_field::string);
  ASSERT_TRUE(body);
  EXPECT_EQ(body.value(),
            unhex("83a474797065ac636861742e6d657373616765a76d657373616765a5746f2d6131b05f5f617367695f6368616e6e656c5f5fd9"
                  "4a73706563696669632e3066316532643363346235613639373838373936613562346333643265316630213030303030303030"
                  "303030303030303030303030303030303030303030303031"));
  auto plain = common::event_from_json(R"({"type": "chat.message", "message": "direct"})");
  auto none = encode_body(plain.value(), {}, channel_field::none);
  EXPECT_EQ(none.value(), unhex("82a474797065ac636861742e6d657373616765a76d657373616765a6646972656374"));
}

TEST(ChannelsWire, DecodesWhatDjangoStoresAndStripsTheChannelField) {
  const std::string member = unhex("f911916374f72c9033c828c7") +
                             encode_body(hi_event, {A1, A2}, channel_field::array).value();
  auto in = decode_member(member);
  ASSERT_TRUE(in) << in.error_text();
  EXPECT_EQ(in->channels, (std::vector<std::string>{A1, A2}));
  EXPECT_EQ(in->event, hi_event);
  auto direct = decode_member(std::string(12, 'x') + encode_body(hi_event, {A1}, channel_field::string).value());
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->channels, (std::vector<std::string>{A1}));
}

TEST(ChannelsWire, RefusesMalformedMembers) {
  EXPECT_FALSE(decode_member("short"));
  EXPECT_FALSE(decode_member(std::string(12, 'x') + "\xc1"));
  EXPECT_FALSE(decode_member(std::string(12, 'x') + hi_event)) << "no __asgi_channel__";
  EXPECT_FALSE(decode_member(std::string(12, 'x') + "\x91\xa1x")) << "not a map";
  std::string bad_field = std::string(12, 'x') + "\x81\xb0__asgi_channel__\x05";
  EXPECT_FALSE(decode_member(bad_field));
  std::string bad_list = std::string(12, 'x') + "\x81\xb0__asgi_channel__\x91\x05";
  EXPECT_FALSE(decode_member(bad_list));
}

TEST(ChannelsWire, NonLocalNames) {
  EXPECT_EQ(non_local("specific.AAA!BBB"), "specific.AAA!");
  EXPECT_EQ(non_local("plainchan"), "plainchan");
}

TEST(ChannelsWire, RandomPrefixesDiffer) {
  std::mt19937_64 rng(1);
  auto a = random_prefix(rng), b = random_prefix(rng);
  EXPECT_EQ(a.size(), 12u);
  EXPECT_NE(a, b);
}

// ---- channel_capacity globs ----
// Every expectation was checked against Python's
// fnmatch.fnmatchcase(name, pattern), which channels_redis uses.

struct glob_case {
  const char* pattern;
  const char* name;
  bool matches;
};

void expect_globs(std::initializer_list<glob_case> cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(glob_match(c.pattern, c.name), c.matches) << "pattern \"" << c.pattern << "\" name \"" << c.name << "\"";
  }
}

TEST(GlobMatch, StarMatchesAnyRunIncludingSlashDotAndNothing) {
  expect_globs({{"asgi.*", "asgi.send", true},
                {"specific.*", "specific.abc!123", true},
                {"*", "", true},
                {"*", ".hidden", true},
                {"a*b", "a/x/b", true},
                {"*!*", "specific.x!y", true},
                {"specific.*", "other.abc", false}});
}

TEST(GlobMatch, QuestionMarkMatchesExactlyOneCharacter) {
  expect_globs({{"ch?t", "chat", true}, {"?", "/", true}, {"?", "ab", false}, {"?", "", false}});
}

TEST(GlobMatch, BracketSetsAndTheirNegation) {
  expect_globs({{"[abc]x", "bx", true},
                {"[abc]x", "dx", false},
                {"[!abc]x", "dx", true},
                {"[!abc]x", "ax", false},
                {"[]a]", "]", true},  // ']' first is a member
                {"[!]a]", "b", true}});
}

TEST(GlobMatch, Ranges) {
  expect_globs({{"[a-c]1", "b1", true},
                {"[a-c]1", "d1", false},
                {"[0-9][0-9]", "42", true},
                {"[z-a]", "m", false}});  // a reversed range matches nothing
}

TEST(GlobMatch, BackslashIsLiteralAsInPython) {
  expect_globs({{"a\\b", "a\\b", true},
                {"a\\*", "a\\xyz", true},
                {"a\\*", "a*", false},  // not an escaped '*'
                {"[\\]", "\\", true}});
}

TEST(GlobMatch, UnclosedBracketIsLiteral) {
  expect_globs({{"[abc", "[abc", true}, {"[abc", "a", false}, {"x[", "x[", true}});
}

TEST(GlobMatch, MatchesTheWholeNameOnly) {
  expect_globs({{"chat", "chat.room", false}, {"room", "chat.room", false}, {"", "x", false}, {"", "", true}});
}

}  // namespace
}  // namespace sb::layerd::wire
