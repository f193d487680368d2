// jwt_verifier_test.cpp — HS256 tokens: good ones, and every way one is refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base64.hpp"
#include "gateway/jwt_verifier.hpp"

namespace sb::gateway {
namespace {

const std::string secret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t now = 1'800'000'000;
const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string mint(const nlohmann::json& claims, const std::string& header = hs256, const std::string& key = secret) {
  return jwt_verifier::sign(key, header, claims.dump());
}

std::string b64url(std::string_view s) {
  auto out = common::base64_encode(s, common::base64_alphabet::url);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

auth_refusal reason(const jwt_result& r) {
  EXPECT_FALSE(r.claims) << "expected a refusal";
  return r.denial.reason;
}

struct JwtVerifier : ::testing::Test {
  jwt_verifier v{secret, 60};
};

TEST_F(JwtVerifier, AGoodTokenYieldsItsClaims) {
  auto r = v.verify(mint({{"sub", "42"}, {"name", "Kim"}, {"exp", now + 600}, {"rooms", {"lobby", "team_*"}}}), now);
  ASSERT_TRUE(r.claims) << r.denial.detail;
  EXPECT_EQ(r.claims->sub, "42");
  EXPECT_EQ(r.claims->name, "Kim");
  EXPECT_EQ(r.claims->exp, now + 600);
  ASSERT_TRUE(r.claims->rooms);
  EXPECT_EQ(*r.claims->rooms, (std::vector<std::string>{"lobby", "team_*"}));
}

TEST_F(JwtVerifier, ANumericSubBecomesItsDecimalStringAndTheNameDefaultsToIt) {
  auto r = v.verify(mint({{"sub", 1234567890123}, {"exp", now + 1}}), now);
  ASSERT_TRUE(r.claims) << r.denial.detail;
  EXPECT_EQ(r.claims->sub, "1234567890123");
  EXPECT_EQ(r.claims->name, "1234567890123");
  EXPECT_FALSE(r.claims->rooms) << "no rooms claim: every room";
  EXPECT_TRUE(v.verify(mint({{"sub", "a"}, {"exp", now + 0.5 + 1}}), now).claims) << "a fractional exp";
}

TEST_F(JwtVerifier, AWrongSignatureOrSecretIsRefused) {
  auto good = mint({{"sub", "1"}, {"exp", now + 60}});
  auto bad = good;
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(reason(v.verify(bad, now)), auth_refusal::signature);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now + 60}}, hs256, secret + "x"), now)), auth_refusal::signature);
  // The claims changed under the old signature: "sub":"2".
  const auto dot = good.rfind('.');
  const auto forged = b64url(hs256) + "." + b64url(R"({"sub":"2","exp":)" + std::to_string(now + 60) + "}") +
                      good.substr(dot);
  EXPECT_EQ(reason(v.verify(forged, now)), auth_refusal::signature);
  EXPECT_EQ(reason(v.verify(good.substr(0, dot + 1), now)), auth_refusal::signature) << "an empty signature";
}

TEST_F(JwtVerifier, AnyAlgButHs256IsRefusedAlgNoneAboveAll) {
  const nlohmann::json c = {{"sub", "1"}, {"exp", now + 60}};
  const auto unsigned_token = b64url(R"({"alg":"none"})") + "." + b64url(c.dump()) + ".";
  EXPECT_EQ(reason(v.verify(unsigned_token, now)), auth_refusal::alg);
  EXPECT_EQ(reason(v.verify(mint(c, R"({"alg":"none"})"), now)), auth_refusal::alg) << "even with a good MAC";
  EXPECT_EQ(reason(v.verify(mint(c, R"({"alg":"HS512"})"), now)), auth_refusal::alg);
  EXPECT_EQ(reason(v.verify(mint(c, R"({"alg":"RS256"})"), now)), auth_refusal::alg);
  EXPECT_EQ(reason(v.verify(mint(c, R"({"typ":"JWT"})"), now)), auth_refusal::alg) << "no alg";
  EXPECT_EQ(reason(v.verify(mint(c, R"({"alg":["HS256"]})"), now)), auth_refusal::alg);
  EXPECT_EQ(reason(v.verify(mint(c, R"({"alg":"HS256","crit":["exp"]})"), now)), auth_refusal::malformed);
}

TEST_F(JwtVerifier, ExpiryCountsTheLeewayBothWays) {
  EXPECT_TRUE(v.verify(mint({{"sub", "1"}, {"exp", now - 30}}), now).claims) << "expired within the leeway";
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now - 60}}), now)), auth_refusal::expired);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now - 100000}}), now)), auth_refusal::expired);
  jwt_verifier strict{secret, 0};
  EXPECT_EQ(reason(strict.verify(mint({{"sub", "1"}, {"exp", now}}), now)), auth_refusal::expired);
  EXPECT_TRUE(strict.verify(mint({{"sub", "1"}, {"exp", now + 1}}), now).claims);
  EXPECT_TRUE(v.verify(mint({{"sub", "1"}, {"exp", 9.9e300}}), now).claims) << "a huge exp does not wrap";
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", -9.9e300}}), now)), auth_refusal::expired);
}

TEST_F(JwtVerifier, NotBeforeCountsTheLeeway) {
  EXPECT_TRUE(v.verify(mint({{"sub", "1"}, {"exp", now + 600}, {"nbf", now + 60}}), now).claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now + 600}, {"nbf", now + 61}}), now)),
            auth_refusal::not_yet_valid);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now + 600}, {"nbf", "soon"}}), now)), auth_refusal::claims);
}

TEST_F(JwtVerifier, ClaimsOfTheWrongTypeOrSizeAreRefused) {
  const auto e = now + 60;
  EXPECT_EQ(reason(v.verify(mint({{"exp", e}}), now)), auth_refusal::claims) << "no sub";
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}}), now)), auth_refusal::claims) << "no exp";
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", "tomorrow"}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", 1.5}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", {{"id", 1}}}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", ""}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", std::string(129, 'x')}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"name", 7}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"name", std::string(201, 'n')}, {"exp", e}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", e}, {"rooms", "lobby"}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", e}, {"rooms", {"lobby", 3}}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", e}, {"rooms", {""}}}), now)), auth_refusal::claims);
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", e}, {"rooms", std::vector<std::string>(101, "r")}}), now)),
            auth_refusal::claims);
  EXPECT_TRUE(v.verify(mint({{"sub", "1"}, {"exp", e}, {"rooms", std::vector<std::string>(100, "r")}}), now).claims);
}

TEST_F(JwtVerifier, ClaimsThatAreNotAJsonObjectAreMalformed) {
  for (const std::string body : {"[1,2]", "\"sub\"", "42", "{\"sub\":", "not json", "{\"sub\":\"\xff\"}"}) {
    const auto token = jwt_verifier::sign(secret, hs256, body);
    EXPECT_EQ(reason(v.verify(token, now)), auth_refusal::malformed) << body;
  }
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}}, "[]"), now)), auth_refusal::malformed) << "header not an object";
}

TEST_F(JwtVerifier, TheShapeIsCheckedBeforeAnyDecoding) {
  EXPECT_EQ(reason(v.verify("", now)), auth_refusal::malformed);
  EXPECT_EQ(reason(v.verify("abc", now)), auth_refusal::malformed);
  EXPECT_EQ(reason(v.verify("a.b", now)), auth_refusal::malformed);
  EXPECT_EQ(reason(v.verify("a.b.c.d", now)), auth_refusal::malformed);
  const auto good = mint({{"sub", "1"}, {"exp", now + 60}});
  EXPECT_EQ(reason(v.verify(good + "=", now)), auth_refusal::malformed) << "padding";
  EXPECT_EQ(reason(v.verify("+" + good, now)), auth_refusal::malformed) << "the standard alphabet";
  EXPECT_EQ(reason(v.verify("a" + good, now)), auth_refusal::malformed) << "a part of 4n+1 characters";
}

TEST_F(JwtVerifier, HugeDeepAndManyKeyedTokensAreRefusedAsTooLarge) {
  EXPECT_EQ(reason(v.verify(std::string(4097, 'a'), now)), auth_refusal::too_large) << "over 4 KiB, unread";
  std::string deep = R"({"sub":"1","exp":)" + std::to_string(now + 60) + R"(,"x":)";
  for (int i = 0; i < 10; ++i) deep += "[";
  for (int i = 0; i < 10; ++i) deep += "]";
  deep += "}";
  EXPECT_EQ(reason(v.verify(jwt_verifier::sign(secret, hs256, deep), now)), auth_refusal::too_large);
  nlohmann::json many = {{"sub", "1"}, {"exp", now + 60}};
  for (int i = 0; i < 300; ++i) many[std::to_string(i).insert(0, 1, 'k')] = 0;
  EXPECT_EQ(reason(v.verify(mint(many), now)), auth_refusal::too_large);
  std::string wide_header = R"({"alg":"HS256","x":[)";
  for (int i = 0; i < 600; ++i) wide_header += "0,";
  wide_header += "0]}";
  EXPECT_EQ(reason(v.verify(mint({{"sub", "1"}, {"exp", now + 60}}, wide_header), now)), auth_refusal::too_large);
  // Nested within the bound is fine (other claims are ignored).
  EXPECT_TRUE(v.verify(mint({{"sub", "1"}, {"exp", now + 60}, {"extra", {{"a", {1, 2}}}}}), now).claims);
}

TEST(JwtRooms, StarMatchesAnyRunOfCharactersAndEverythingElseItself) {
  EXPECT_TRUE(jwt_verifier::room_matches("lobby", "lobby"));
  EXPECT_FALSE(jwt_verifier::room_matches("lobby", "lobby2"));
  EXPECT_FALSE(jwt_verifier::room_matches("lobby", "Lobby")) << "case matters";
  EXPECT_TRUE(jwt_verifier::room_matches("*", "anything"));
  EXPECT_TRUE(jwt_verifier::room_matches("team_*", "team_"));
  EXPECT_TRUE(jwt_verifier::room_matches("team_*", "team_red"));
  EXPECT_FALSE(jwt_verifier::room_matches("team_*", "teams"));
  EXPECT_TRUE(jwt_verifier::room_matches("*_ops", "night_ops"));
  EXPECT_TRUE(jwt_verifier::room_matches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(jwt_verifier::room_matches("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(jwt_verifier::room_matches("**", ""));
  EXPECT_TRUE(jwt_verifier::room_matches("로비*", "로비_2")) << "bytes of UTF-8 names";
}

}  // namespace
}  // namespace sb::gateway
