// main.cpp — switchboard-layerd: parse options, start the layer server.
//
// Kept thin so tests link the real code (sb_layerd_lib). Start-up errors
// (bad options, an endpoint that cannot be bound) end the process with one
// clear line; an unreachable Redis is not fatal (the server retries).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "common/cli.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "layerd/http_api.hpp"
#include "layerd/layer_server.hpp"

namespace po = boost::program_options;

namespace {
sb::layerd::layer_server* g_server = nullptr;
extern "C" void on_signal(int) {
  if (g_server) g_server->request_stop();
}
extern "C" void on_hup(int) {
  if (g_server) g_server->request_reload();  // only an atomic store and an eventfd write
}
}  // namespace

int main(int argc, char** argv) {
  namespace lim = sb::common::limits;
  po::options_description desc("Options");
  desc.add_options()
    ("bind", po::value<std::string>()->default_value("tcp://127.0.0.1:7100"),
     "ZeroMQ ROUTER endpoint that gateways connect to")
    ("redis", po::value<std::vector<std::string>>()->composing()->default_value(
                  std::vector<std::string>{"redis://127.0.0.1:6379/0"}, "redis://127.0.0.1:6379/0"),
     "Redis URL: redis://[:password@]host[:port][/db]; repeat for several hosts, in the order of Django's "
     "CHANNEL_LAYERS hosts (channels_redis' consistent hash picks a host by position)")
    ("prefix", po::value<std::string>()->default_value("asgi"), "channels_redis key prefix")
    ("group-expiry", po::value<int>()->default_value(lim::default_group_expiry_s),
     "seconds; TTL of group keys, refreshed on every join")
    ("refresh-interval", po::value<int>()->default_value(lim::default_refresh_interval_s),
     "seconds between re-leasing every live member in Redis")
    ("gateway-timeout-ms", po::value<int>()->default_value(lim::default_gateway_timeout_ms),
     "a gateway silent this long is dead and its members are removed")
    ("id", po::value<std::string>()->default_value("layerd"), "name used in logs")
    ("expiry", po::value<int>()->default_value(60),
     "seconds; channels_redis message lifetime and inbox TTL for messages written to Django consumers")
    ("capacity", po::value<int>()->default_value(100),
     "messages a Django inbox key may hold (channels_redis capacity); over it a message is skipped")
    ("pending-max", po::value<int>()->default_value(100),
     "notify events kept per notification_* group for clients that connect later")
    ("pending-age", po::value<int>()->default_value(86400), "seconds a pending notification is kept")
    ("channel-capacity", po::value<std::vector<std::string>>()->composing(),
     "GLOB=N: capacity for Django inbox keys whose first channel matches GLOB (channels_redis channel_capacity; "
     "repeat, first match wins)")
    ("symmetric-encryption-key", po::value<std::vector<std::string>>()->composing(),
     "a channels_redis symmetric_encryption_keys secret (repeat in the same order as Django; the first encrypts)")
    ("http-listen", po::value<std::string>()->default_value("127.0.0.1:7180"),
     "host:port of the HTTP API (only when a token is set; port 0 picks a free port)")
    ("metrics-listen", po::value<std::string>()->default_value(""),
     "host:port serving GET /metrics (Prometheus text, no auth); empty (the default) turns it off")
    ("api-token", po::value<std::string>()->default_value(""),
     "bearer token for the HTTP API; empty (the default) turns the API off "
     "(SWITCHBOARD_API_TOKEN in the environment sets it, like any SWITCHBOARD_<OPTION>)");
  sb::common::add_common_options(desc);
  auto vm = sb::common::parse_command_line(argc, argv, desc, "switchboard-layerd",
                                           "Switchboard channel layer: group membership in Redis, fan-out to gateways.");

  if (!sb::common::setup_logging(vm["log-level"].as<std::string>())) {
    std::cerr << "switchboard-layerd: unknown --log-level (see --help)\n";
    return 2;
  }
  auto log = sb::common::log("main");
  sb::layerd::layerd_config cfg;
  cfg.bind = vm["bind"].as<std::string>();
  auto urls = sb::common::parse_redis_urls(vm["redis"].as<std::vector<std::string>>());
  if (!urls) {
    std::cerr << "switchboard-layerd: --redis: " << urls.error_text() << "\n";
    return 2;
  }
  cfg.redis_hosts = std::move(urls.value());
  for (std::size_t i = 0; i < cfg.redis_hosts.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (sb::common::describe(cfg.redis_hosts[i]) == sb::common::describe(cfg.redis_hosts[j])) {
        // Legal (channels_redis allows it too: both positions are one server),
        // but usually a copy-paste slip.
        log->warn("redis host listed twice host={} positions={},{}", sb::common::describe(cfg.redis_hosts[i]), j, i);
      }
    }
  }
  cfg.prefix = vm["prefix"].as<std::string>();
  cfg.group_expiry_s = vm["group-expiry"].as<int>();
  cfg.refresh_interval_s = vm["refresh-interval"].as<int>();
  cfg.gateway_timeout_ms = vm["gateway-timeout-ms"].as<int>();
  cfg.id = vm["id"].as<std::string>();
  cfg.expiry_s = vm["expiry"].as<int>();
  cfg.capacity = vm["capacity"].as<int>();
  cfg.pending_max = vm["pending-max"].as<int>();
  cfg.pending_age_s = vm["pending-age"].as<int>();
  if (cfg.pending_max <= 0 || cfg.pending_age_s <= 0) {
    std::cerr << "switchboard-layerd: --pending-max and --pending-age must be positive\n";
    return 2;
  }
  if (cfg.expiry_s <= 0 || cfg.capacity <= 0) {
    std::cerr << "switchboard-layerd: --expiry and --capacity must be positive\n";
    return 2;
  }
  if (cfg.group_expiry_s <= 0 || cfg.refresh_interval_s <= 0 || cfg.gateway_timeout_ms <= 0) {
    std::cerr << "switchboard-layerd: --group-expiry, --refresh-interval and --gateway-timeout-ms must be positive\n";
    return 2;
  }
  if (vm.count("channel-capacity")) {
    for (const auto& spec : vm["channel-capacity"].as<std::vector<std::string>>()) {
      const auto eq = spec.rfind('=');
      int cap = 0;
      try {
        if (eq != std::string::npos) cap = std::stoi(spec.substr(eq + 1));
      } catch (const std::exception&) {
      }
      if (eq == std::string::npos || eq == 0 || cap <= 0) {
        std::cerr << "switchboard-layerd: --channel-capacity must be GLOB=N with N > 0, got \"" << spec << "\"\n";
        return 2;
      }
      cfg.channel_capacity.emplace_back(spec.substr(0, eq), cap);
    }
  }
  if (vm.count("symmetric-encryption-key")) {
    for (const auto& secret : vm["symmetric-encryption-key"].as<std::vector<std::string>>()) {
      cfg.encryption_keys.push_back(sb::layerd::fernet::derive(secret));
    }
  }
  const std::string token = vm["api-token"].as<std::string>();
  // "host:port" → (host, port); one line and exit 2 when malformed.
  auto split_listen = [](const std::string& option, const std::string& value) {
    const auto colon = value.rfind(':');
    int port = -1;
    if (colon != std::string::npos && colon > 0) {
      try {
        port = std::stoi(value.substr(colon + 1));
      } catch (const std::exception&) {
      }
    }
    if (port < 0 || port > 65535) {
      std::cerr << "switchboard-layerd: --" << option << " must be host:port with a port 0..65535\n";
      std::exit(2);
    }
    return std::pair<std::string, unsigned short>(value.substr(0, colon), static_cast<unsigned short>(port));
  };
  const auto [http_host, http_port] = split_listen("http-listen", vm["http-listen"].as<std::string>());
  const std::string metrics_listen = vm["metrics-listen"].as<std::string>();
  std::pair<std::string, unsigned short> metrics_addr;
  if (!metrics_listen.empty()) metrics_addr = split_listen("metrics-listen", metrics_listen);
  try {
    sb::layerd::layer_server server(cfg);
    std::unique_ptr<sb::layerd::http_api> api;
    if (!token.empty()) {
      api = std::make_unique<sb::layerd::http_api>(server, http_host, http_port, token);
      api->start();
      log->info("http api listening address={}:{}", http_host, api->port());
    }
    std::unique_ptr<sb::layerd::http_api> metrics;
    if (!metrics_listen.empty()) {
      metrics = std::make_unique<sb::layerd::http_api>(server, metrics_addr.first, metrics_addr.second, "");
      metrics->start();
      log->info("metrics listening address={}:{}", metrics_addr.first, metrics->port());
    }
    server.on_reload = [&] { sb::common::reload_log_level(argc, argv, desc); };
    g_server = &server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_hup);
    server.run();
    g_server = nullptr;
  } catch (const std::exception& e) {
    log->critical("layerd failed error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
