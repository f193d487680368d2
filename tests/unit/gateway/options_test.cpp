// options_test.cpp — switchboard-gateway's options: defaults from the struct, --listen via parse_host_port.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/options.hpp"

namespace sb::gateway {
namespace {

gateway_config parse(std::vector<std::string> args) {
  args.insert(args.begin(), "switchboard-gateway");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

TEST(Options, WithoutArgumentsTheConfigIsTheStructsDefaults) {
  const auto cfg = parse({});
  const gateway_config defaults;
  EXPECT_EQ(cfg.listen_host, defaults.listen_host);
  EXPECT_EQ(cfg.listen_port, defaults.listen_port);
  EXPECT_EQ(cfg.layerds, defaults.layerds);
  EXPECT_EQ(cfg.threads, defaults.threads);
  EXPECT_EQ(cfg.drain_timeout_ms, defaults.drain_timeout_ms);
}

TEST(Options, ListenTakesABracketedIpv6AddressWithoutItsBrackets) {
  const auto cfg = parse({"--listen", "[::1]:9000", "--trusted-proxy", "::ffff:127.0.0.1"});
  EXPECT_EQ(cfg.listen_host, "::1");
  EXPECT_EQ(cfg.listen_port, 9000);
  ASSERT_EQ(cfg.trusted_proxies.size(), 1u);
}

TEST(Options, ABadValueIsOneLineAndExitCode2) {
  EXPECT_EXIT(parse({"--listen", "[::1]:8000x"}), ::testing::ExitedWithCode(2), "--listen must be host:port");
  EXPECT_EXIT(parse({"--threads", "0"}), ::testing::ExitedWithCode(2), "--threads must be 1..64");
  EXPECT_EXIT(parse({"--slow-consumer-ms", "-1"}), ::testing::ExitedWithCode(2), "--slow-consumer-ms must be 0..600000");
  EXPECT_EXIT(parse({"--slow-consumer-ms", "600001"}), ::testing::ExitedWithCode(2),
              "--slow-consumer-ms must be 0..600000");
}

TEST(Options, SlowConsumerTimeDefaultsToFiveSecondsAndZeroMeansAtOnce) {
  EXPECT_EQ(parse({}).slow_consumer_ms, 5000);
  EXPECT_EQ(parse({"--slow-consumer-ms", "0"}).slow_consumer_ms, 0);
}

TEST(Options, RoutesDefaultToTodaysPathsAndRepeatedRoutesReplaceThem) {
  EXPECT_EQ(parse({}).routes,
            (std::vector<std::string>{"/ws/chat/<room_name>/ chat", "/ws/notification/<center_name>/ notification"}));
  EXPECT_EQ(parse({"--route", "/ws/a/<r>/ chat", "--route", "/ws/b/<c>/ notification"}).routes,
            (std::vector<std::string>{"/ws/a/<r>/ chat", "/ws/b/<c>/ notification"}));
}

TEST(Options, ABadRouteIsOneLineNamingItAndExitCode2) {
  EXPECT_EXIT(parse({"--route", "/ws/a/<r>/ chat", "--route", "/ws/b/ chat"}), ::testing::ExitedWithCode(2),
              "--route '/ws/b/ chat': the built-in chat consumer needs exactly one <name> segment");
  EXPECT_EXIT(parse({"--route", "/healthz/<r>/ chat"}), ::testing::ExitedWithCode(2), "collides with the gateway's /healthz");
}

}  // namespace
}  // namespace sb::gateway
