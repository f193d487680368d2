// allow_list_test.cpp — the CURVE allow-list parser: each line's role and
// id, comments (also with `#` inside a Z85 key), and every malformed line
// refused with its line number; the routing ids each entry may use.
#include <gtest/gtest.h>

#include <string>

#include "common/curve_keys.hpp"
#include "layerd/allow_list.hpp"

namespace sb::layerd {
namespace {

std::string new_key() { return common::generate_keypair().value().public_key; }

// A valid key with '#' (a Z85 digit) inside it.
std::string key_with_hash() {
  for (int i = 0; i < 10000; ++i) {
    auto k = new_key();
    if (k.find('#') != std::string::npos) return k;
  }
  return {};
}

TEST(AllowList, ParsesGatewaysAndClientsWithComments) {
  const auto g = new_key(), c = new_key(), anon = new_key();
  auto r = allow_list::parse("# the list\n\n" + g + " gateway gw1   # host a\n" + c + "\tclient deploy-bot\n" + anon +
                             " client\r\n");
  ASSERT_TRUE(r) << r.error_text();
  EXPECT_EQ(r->size(), 3u);
  const auto* gw = r->find(g);
  ASSERT_NE(gw, nullptr);
  EXPECT_EQ(gw->what, allowed_peer::role::gateway);
  EXPECT_EQ(gw->name, "gw1");
  EXPECT_EQ(r->find(c)->name, "deploy-bot");
  EXPECT_EQ(r->find(anon)->what, allowed_peer::role::client);
  EXPECT_EQ(r->find(new_key()), nullptr);
}

TEST(AllowList, AKeyMayHoldTheCommentCharacter) {
  const auto k = key_with_hash();
  ASSERT_FALSE(k.empty());
  auto r = allow_list::parse(k + " gateway gw1\n#" + new_key() + " gateway commented-out\n");
  ASSERT_TRUE(r) << r.error_text();
  EXPECT_EQ(r->size(), 1u);
  EXPECT_NE(r->find(k), nullptr);
}

TEST(AllowList, MalformedLinesAreRefusedWithTheirLineNumber) {
  const auto k = new_key();
  const std::pair<std::string, std::string> cases[] = {
      {"# c\nnot-a-key gateway gw1\n", "line 2: "},
      {k.substr(0, 39) + " gateway gw1\n", "line 1: "},
      {k + "\n", "line 1: a role is missing"},
      {k + " admin x\n", "line 1: unknown role"},
      {k + " gateway\n", "line 1: expected `<key> gateway <id>`"},
      {k + " gateway a b\n", "line 1: expected `<key> gateway <id>`"},
      {k + " gateway bad.id\n", "line 1: gateway id must be"},
      {k + " gateway cli\n", "line 1: gateway id \"cli\" is reserved"},
      {k + " client a b\n", "line 1: expected `<key> client [<name>]`"},
      {k + " client a!b\n", "line 1: client name must be"},
      {k + " gateway a\n\n" + k + " client\n", "line 3: this key is listed twice"},
      {"# only comments\n", "no keys"},
      {"", "no keys"},
  };
  for (const auto& [text, expected] : cases) {
    auto r = allow_list::parse(text, "allow");
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error_text().find(expected), std::string::npos) << r.error_text();
  }
}

TEST(AllowList, HugeInputIsRefusedBeforeParsing) {
  std::string text(allow_list::max_bytes + 1, '#');
  auto r = allow_list::parse(text);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error_text().find("over"), std::string::npos);
}

TEST(AllowList, AGatewayKeyMayUseOnlyItsOwnRunIds) {
  allowed_peer gw{allowed_peer::role::gateway, "gw1"};
  EXPECT_TRUE(gw.may_use("gw1.0123456789abcdef"));
  EXPECT_FALSE(gw.may_use("gw2.0123456789abcdef"));
  EXPECT_FALSE(gw.may_use("gw1.0123456789abcde"));    // 15 digits
  EXPECT_FALSE(gw.may_use("gw1.0123456789abcdef0"));  // 17
  EXPECT_FALSE(gw.may_use("gw1.0123456789ABCDEF"));   // not lowercase hex
  EXPECT_FALSE(gw.may_use("gw10123456789abcdef0"));
  EXPECT_FALSE(gw.may_use("cli.0123456789abcdef"));
  EXPECT_FALSE(gw.may_use(""));
  allowed_peer client{allowed_peer::role::client, "ops"};
  EXPECT_TRUE(client.may_use("cli.0123456789abcdef"));
  EXPECT_FALSE(client.may_use("gw1.0123456789abcdef"));
  EXPECT_FALSE(client.may_use("ops.0123456789abcdef"));
}

}  // namespace
}  // namespace sb::layerd
