// origin_policy_test.cpp — which Origins may open WebSockets.
#include <gtest/gtest.h>

#include "gateway/origin_policy.hpp"

namespace sb::gateway {
namespace {

TEST(OriginPolicy, WithoutPatternsTheOriginMustBeTheRequestsOwnHost) {
  origin_policy p;
  EXPECT_TRUE(p.allowed("http://chat.example.com", "chat.example.com"));
  EXPECT_TRUE(p.allowed("http://127.0.0.1:8000", "127.0.0.1:8000"));
  EXPECT_TRUE(p.allowed("https://chat.example.com", "chat.example.com:443"));
  EXPECT_FALSE(p.allowed("http://evil.example", "chat.example.com"));
  EXPECT_FALSE(p.allowed("http://127.0.0.1:9000", "127.0.0.1:8000"));
  EXPECT_FALSE(p.allowed("null", "chat.example.com"));
  EXPECT_TRUE(p.allowed("HTTP://Chat.Example.COM", "chat.example.com")) << "case-insensitive";
}

TEST(OriginPolicy, AHandshakeWithoutOriginIsNotABrowserAndIsAllowed) {
  EXPECT_TRUE(origin_policy().allowed("", "x"));
  EXPECT_TRUE(origin_policy({"example.com"}).allowed("", "x"));
}

TEST(OriginPolicy, PatternsLikeAllowedHosts) {
  origin_policy p({"example.com", "*.example.org", ".example.net", "localhost:3000"});
  EXPECT_TRUE(p.allowed("https://example.com", "gw"));
  EXPECT_FALSE(p.allowed("https://www.example.com", "gw"));
  EXPECT_TRUE(p.allowed("https://a.example.org", "gw"));
  EXPECT_TRUE(p.allowed("https://a.b.example.org", "gw"));
  EXPECT_FALSE(p.allowed("https://example.org", "gw")) << "*. means subdomains only";
  EXPECT_TRUE(p.allowed("https://example.net", "gw"));
  EXPECT_TRUE(p.allowed("https://x.example.net", "gw"));
  EXPECT_FALSE(p.allowed("https://badexample.net", "gw"));
  EXPECT_TRUE(p.allowed("http://localhost:3000", "gw"));
  EXPECT_FALSE(p.allowed("http://localhost:3001", "gw"));
  EXPECT_FALSE(p.allowed("https://evil.com", "gw"));
  EXPECT_FALSE(p.allowed("https://example.com.evil.com", "gw"));
}

TEST(OriginPolicy, FullOriginsMatchSchemeHostAndPort) {
  origin_policy p({"https://app.example.com"});
  EXPECT_TRUE(p.allowed("https://app.example.com", "gw"));
  EXPECT_FALSE(p.allowed("http://app.example.com", "gw"));
  EXPECT_FALSE(p.allowed("https://app.example.com:8443", "gw"));
}

TEST(OriginPolicy, StarAllowsEverything) {
  EXPECT_TRUE(origin_policy({"*"}).allowed("https://anything.test", "gw"));
  EXPECT_TRUE(origin_policy({"*"}).allowed("null", "gw"));
}

}  // namespace
}  // namespace sb::gateway
