// token_auth_test.cpp — the handshake's identity: tokens, guests, refusals.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "gateway/token_auth.hpp"

namespace sb::gateway {
namespace {

const std::string secret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t now = 1'800'000'000;

std::string mint(const nlohmann::json& claims) {
  return jwt_verifier::sign(secret, R"({"alg":"HS256","typ":"JWT"})", claims.dump());
}

TEST(TokenAuth, WithoutASecretEveryoneIsAGuestWithAStableDistinctName) {
  token_auth a("", 60, true, 7);
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    auto d = a.authenticate_target("/ws/chat/lobby/", "lobby", now);
    ASSERT_TRUE(d.user);
    EXPECT_TRUE(d.user->guest);
    EXPECT_EQ(d.user->id, d.user->name);
    ASSERT_EQ(d.user->id.size(), 14u);
    EXPECT_EQ(d.user->id.substr(0, 6), "guest-");
    EXPECT_EQ(d.user->id.find_first_not_of("0123456789abcdef", 6), std::string::npos);
    names.insert(d.user->id);
  }
  EXPECT_EQ(names.size(), 1000u) << "one name per connection";
}

TEST(TokenAuth, AGoodTokenIsTheUser) {
  token_auth a(secret, 60, false, 7);
  auto d = a.authenticate_target("/ws/chat/lobby/?x=1&token=" + mint({{"sub", "42"}, {"name", "Kim"}, {"exp", now + 60}}),
                                 "lobby", now);
  ASSERT_TRUE(d.user) << d.denial.detail;
  EXPECT_EQ(d.user->id, "42");
  EXPECT_EQ(d.user->name, "Kim");
  EXPECT_FALSE(d.user->guest);
}

TEST(TokenAuth, TheRoomsClaimListsTheRoomsTheTokenOpens) {
  token_auth a(secret, 60, true, 7);
  const auto t = mint({{"sub", "42"}, {"exp", now + 60}, {"rooms", {"lobby", "team_*"}}});
  EXPECT_TRUE(a.authenticate_target("/ws/chat/lobby/?token=" + t, "lobby", now).user);
  EXPECT_TRUE(a.authenticate_target("/ws/chat/team_red/?token=" + t, "team_red", now).user);
  auto d = a.authenticate_target("/ws/chat/other/?token=" + t, "other", now);
  ASSERT_FALSE(d.user) << "not a guest instead";
  EXPECT_EQ(d.denial.reason, auth_refusal::room);
  EXPECT_EQ(d.denial.status(), 403u);
  EXPECT_EQ(a.authenticate_target("/ws/x/?token=" + t, "", now).denial.reason, auth_refusal::room) << "a route without a room";
  const auto none = mint({{"sub", "42"}, {"exp", now + 60}, {"rooms", nlohmann::json::array()}});
  EXPECT_EQ(a.authenticate_target("/ws/chat/lobby/?token=" + none, "lobby", now).denial.reason, auth_refusal::room);
}

TEST(TokenAuth, DenyWantsATokenAndABadTokenIsNeverAGuest) {
  token_auth deny(secret, 60, false, 7);
  EXPECT_EQ(deny.authenticate_target("/ws/chat/lobby/", "lobby", now).denial.reason, auth_refusal::missing);
  EXPECT_EQ(deny.authenticate_target("/ws/chat/lobby/?tokens=1", "lobby", now).denial.reason, auth_refusal::missing);
  token_auth allow(secret, 60, true, 7);
  auto d = allow.authenticate_target("/ws/chat/lobby/?token=" + mint({{"sub", "1"}, {"exp", now - 61}}), "lobby", now);
  EXPECT_FALSE(d.user);
  EXPECT_EQ(d.denial.reason, auth_refusal::expired);
  EXPECT_EQ(allow.authenticate_target("/ws/chat/lobby/?token=", "lobby", now).denial.reason, auth_refusal::malformed);
  EXPECT_EQ(allow.authenticate_target("/ws/chat/lobby/?token=%zz", "lobby", now).denial.reason, auth_refusal::malformed);
}

TEST(TokenAuth, ATokenGivenTwiceIsA400) {
  token_auth a(secret, 60, true, 7);
  const auto t = mint({{"sub", "1"}, {"exp", now + 60}});
  auto d = a.authenticate_target("/ws/chat/lobby/?token=" + t + "&token=" + t, "lobby", now);
  EXPECT_EQ(d.denial.reason, auth_refusal::duplicate);
  EXPECT_EQ(d.denial.status(), 400u);
}

TEST(TokenAuth, ATokenToAGatewayWithoutASecretIsRefused) {
  token_auth a("", 60, true, 7);
  EXPECT_EQ(a.authenticate_target("/ws/chat/lobby/?token=" + mint({{"sub", "1"}, {"exp", now + 60}}), "lobby", now)
                .denial.reason,
            auth_refusal::no_secret);
}

TEST(TokenAuth, EveryRefusalHasAMetricName) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < auth_refusal_count; ++i) seen.insert(auth_refusal_name(static_cast<auth_refusal>(i)));
  EXPECT_EQ(seen.size(), auth_refusal_count);
  EXPECT_EQ(seen.count("unknown"), 0u);
}

}  // namespace
}  // namespace sb::gateway
