// host_port_test.cpp — the one listen-address parser.
#include "common/host_port.hpp"

#include <gtest/gtest.h>

namespace sb::common {

TEST(HostPort, ParsesIpv4NameAndBracketedIpv6) {
  auto a = parse_host_port("127.0.0.1:8000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8000);
  auto b = parse_host_port("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  auto c = parse_host_port("localhost:65535");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "localhost");
  EXPECT_EQ(c->port, 65535);
}

TEST(HostPort, RefusesEveryMalformedSpelling) {
  for (const char* bad : {"", "8000", ":8000", "host:", "host:-1", "host:65536", "host:80x", "::1:80", "[::1:80",
                          "[]:80", "host: 80", "[::1]x:80"}) {
    auto r = parse_host_port(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error_text().find("host:port"), std::string::npos);
    }
  }
}

}  // namespace sb::common
