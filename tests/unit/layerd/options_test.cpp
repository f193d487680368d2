// options_test.cpp — layerd's options: --help shows the structs' defaults,
// listen addresses go through the shared host:port parser.
#include <gtest/gtest.h>

#include <sstream>

#include "layerd/options.hpp"

namespace sb::layerd {
namespace {

layerd_options parse(std::vector<std::string> args) {
  args.insert(args.begin(), "switchboard-layerd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size()), argv.data(), describe_options());
}

TEST(LayerdOptions, HelpShowsTheDefaultsTheStructsHold) {
  std::ostringstream help;
  help << describe_options();
  const layerd_config c;
  EXPECT_NE(help.str().find("--bind arg (=" + c.bind + ")"), std::string::npos);
  EXPECT_NE(help.str().find("--group-expiry arg (=" + std::to_string(c.group_expiry_s) + ")"), std::string::npos);
  EXPECT_NE(help.str().find("--redis arg (=redis://127.0.0.1:6379/0)"), std::string::npos);
  EXPECT_NE(help.str().find("--http-listen arg (=127.0.0.1:7180)"), std::string::npos);
}

TEST(LayerdOptions, NoArgumentsGiveTheStructDefaults) {
  const auto o = parse({});
  EXPECT_EQ(o.layer.bind, layerd_config{}.bind);
  EXPECT_EQ(o.layer.pending_max, layerd_config{}.pending_max);
  EXPECT_EQ(o.http_listen.host, "127.0.0.1");
  EXPECT_EQ(o.http_listen.port, 7180);
  EXPECT_FALSE(o.metrics_listen.has_value());
}

TEST(LayerdOptions, ListenAddressesMayBeIPv6InBrackets) {
  const auto o = parse({"--http-listen", "[::1]:0", "--metrics-listen", "[::1]:9100"});
  EXPECT_EQ(o.http_listen.host, "::1");
  EXPECT_EQ(o.http_listen.port, 0);
  ASSERT_TRUE(o.metrics_listen.has_value());
  EXPECT_EQ(o.metrics_listen->host, "::1");
  EXPECT_EQ(o.metrics_listen->port, 9100);
}

TEST(LayerdOptions, ABadListenAddressExits2) {
  EXPECT_EXIT(parse({"--http-listen", "::1:80"}), ::testing::ExitedWithCode(2), "--http-listen must be host:port");
}

}  // namespace
}  // namespace sb::layerd

namespace sb::layerd {
namespace {

TEST(LayerdOptions, OnlyLoopbackEndpointsCountAsLoopback) {
  for (const char* ep : {"tcp://127.0.0.1:7100", "tcp://127.3.4.5:1", "tcp://localhost:7100", "tcp://[::1]:7100",
                         "ipc:///run/switchboard/layerd", "inproc://layerd"}) {
    EXPECT_TRUE(is_loopback_endpoint(ep)) << ep;
  }
  for (const char* ep : {"tcp://0.0.0.0:7100", "tcp://*:7100", "tcp://10.0.0.5:7100", "tcp://eth0:7100",
                         "tcp://[::]:7100", "tcp://layerd.example:7100", "tcp://127.0.0.1;10.0.0.5:7100",
                         "tcp://127.0.0.1", "udp://127.0.0.1:7100", "pgm://eth0;239.1.1.1:5555"}) {
    EXPECT_FALSE(is_loopback_endpoint(ep)) << ep;
  }
}

TEST(LayerdOptions, HistoryDefaultsToChatRoomsAndTakesPatternsInOrderOrOff) {
  const auto d = parse({});
  ASSERT_EQ(d.layer.history.size(), 1u);
  EXPECT_EQ(d.layer.history[0].pattern, "chat_*");
  EXPECT_EQ(d.layer.history[0].maxlen, 100);
  EXPECT_EQ(d.layer.history[0].ttl_s, 86400);
  const auto o = parse({"--history", "chat_vip* 500 7d", "--history", "chat_* 50 30m"});
  ASSERT_EQ(o.layer.history.size(), 2u);
  EXPECT_EQ(o.layer.history[0].pattern, "chat_vip*");
  EXPECT_EQ(o.layer.history[0].ttl_s, 7 * 86400);
  EXPECT_EQ(o.layer.history[1].maxlen, 50);
  EXPECT_EQ(o.layer.history[1].ttl_s, 1800);
  EXPECT_TRUE(parse({"--history", "off"}).layer.history.empty());
}

TEST(LayerdOptions, ABadHistoryValueIsRefusedWithWhatIsWrong) {
  for (const char* bad : {"chat_*", "chat_* 100", "chat_* 0 1h", "chat_* -5 1h", "chat_* 100 0", "chat_* 100 1w",
                          "chat_* ten 1h", "chat_* 100 1h extra", "chat_* 2000000 1h", "chat_* 100 99999999999h"}) {
    auto r = parse_history_setting(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_EXIT(parse({"--history", "chat_* 0 1h"}), ::testing::ExitedWithCode(2), "--history MAXLEN");
  EXPECT_EXIT(parse({"--history", "off", "--history", "chat_* 1 1h"}), ::testing::ExitedWithCode(2), "off");
  auto ok = parse_history_setting("chat_* 100 90");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok.value()->ttl_s, 90);
}

}  // namespace
}  // namespace sb::layerd
