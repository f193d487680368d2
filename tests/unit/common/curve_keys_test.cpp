// curve_keys_test.cpp — key files: comments, one key, Z85 checked by
// libzmq (also a key that starts with '#', a Z85 digit).
#include <gtest/gtest.h>

#include "common/curve_keys.hpp"

namespace sb::common {
namespace {

TEST(CurveKeys, ALibzmqWithCurveIsPresent) { EXPECT_TRUE(curve_available()); }

TEST(CurveKeys, AKeyFileHoldsOneKeyAndComments) {
  const auto pair = generate_keypair().value();
  EXPECT_TRUE(is_z85_key(pair.public_key));
  EXPECT_TRUE(is_z85_key(pair.secret_key));
  auto k = parse_key_text("# a comment\n\n  " + pair.public_key + "  \r\n# end\n", "f");
  ASSERT_TRUE(k) << k.error_text();
  EXPECT_EQ(k.value(), pair.public_key);
}

TEST(CurveKeys, BadKeyFilesSayWhy) {
  const auto a = generate_keypair().value().public_key, b = generate_keypair().value().public_key;
  EXPECT_NE(parse_key_text("# nothing\n", "f").error_text().find("no key"), std::string::npos);
  EXPECT_NE(parse_key_text(a + "\n" + b + "\n", "f").error_text().find("line 2: more than one key"), std::string::npos);
  EXPECT_NE(parse_key_text("short\n", "f").error_text().find("line 1: not a CURVE key"), std::string::npos);
  EXPECT_FALSE(is_z85_key(a.substr(0, 39) + " "));  // a space is not Z85
  EXPECT_FALSE(is_z85_key(a + "x"));
}

TEST(CurveKeys, RawKeysEncodeToZ85) {
  EXPECT_EQ(z85_of_raw_key(std::string(32, '\0')).size(), 40u);
  EXPECT_EQ(z85_of_raw_key("short"), "");
}

}  // namespace
}  // namespace sb::common
