// ws_handshake_test.cpp — upgrade validation and the 101 response.
#include <gtest/gtest.h>

#include "gateway/ws_handshake.hpp"

namespace http = boost::beast::http;

namespace sb::gateway::ws {
namespace {

http::request<http::string_body> upgrade_request() {
  http::request<http::string_body> req{http::verb::get, "/ws/chat/lobby/", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "keep-alive, Upgrade");
  req.set(http::field::sec_websocket_version, "13");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  return req;
}

TEST(Handshake, AcceptKeyMatchesTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptsAValidUpgrade) {
  auto r = check_upgrade(upgrade_request());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  auto text = switching_protocols(r.accept);
  EXPECT_EQ(text.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
  EXPECT_NE(text.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 4), "\r\n\r\n");
}

TEST(Handshake, RefusesBadUpgrades) {
  auto req = upgrade_request();
  req.method(http::verb::post);
  EXPECT_FALSE(check_upgrade(req).ok);

  req = upgrade_request();
  req.set(http::field::connection, "keep-alive");
  EXPECT_FALSE(check_upgrade(req).ok);

  req = upgrade_request();
  req.set(http::field::sec_websocket_key, "short");
  EXPECT_EQ(check_upgrade(req).status, 400u);

  req = upgrade_request();
  req.erase(http::field::sec_websocket_key);
  EXPECT_FALSE(check_upgrade(req).ok);

  req = upgrade_request();
  req.set(http::field::sec_websocket_version, "8");
  auto r = check_upgrade(req);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 426u);

  req = upgrade_request();
  req.version(10);
  EXPECT_FALSE(check_upgrade(req).ok);
}

TEST(Base64, RoundTripsAndRefusesNonCanonicalInput) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::string back;
    ASSERT_TRUE(base64_decode(base64_encode(s), back)) << s;
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  std::string out;
  EXPECT_FALSE(base64_decode("Zm9", out));
  EXPECT_FALSE(base64_decode("Zm=v", out));
  EXPECT_FALSE(base64_decode("Z!9v", out));
}

}  // namespace
}  // namespace sb::gateway::ws
