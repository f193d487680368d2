// main.cpp — switchboard-gateway: parse options, run the gateway.
//
// Kept thin so tests link the real code (sb_gateway_lib). Start-up errors
// end the process with one clear line; an unreachable layerd is not fatal.
#include <csignal>
#include <iostream>

#include <boost/asio/ip/address.hpp>
#include <regex>

#include "common/cli.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "gateway/gateway_server.hpp"

namespace po = boost::program_options;

namespace {

[[noreturn]] void usage_error(const std::string& text) {
  std::cerr << "switchboard-gateway: " << text << " (see --help)\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // OpenSSL writes TLS sockets itself (tls_socket.hpp) without
  // MSG_NOSIGNAL: a peer that vanished must be an error code, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  namespace lim = sb::common::limits;
  po::options_description desc("Options");
  desc.add_options()
    ("listen", po::value<std::string>()->default_value("127.0.0.1:8000"),
     "HTTP/WebSocket address host:port (port 0 picks a free port)")
    ("layerd", po::value<std::vector<std::string>>()->composing()->default_value({"tcp://127.0.0.1:7100"},
                                                                                 "tcp://127.0.0.1:7100"),
     "a layerd endpoint; repeat for each layerd (every gateway must list the same endpoints)")
    ("id", po::value<std::string>()->default_value("gw"),
     "gateway name (letters, digits, '-', '_'); the run id adds a random suffix")
    ("threads", po::value<std::size_t>()->default_value(1), "I/O threads")
    ("max-message-size", po::value<std::size_t>()->default_value(lim::default_max_message_size),
     "bytes; a larger inbound message closes the connection with 1009")
    ("rate-limit", po::value<double>()->default_value(lim::default_rate_limit),
     "inbound messages per second per connection")
    ("rate-burst", po::value<double>()->default_value(lim::default_rate_burst),
     "messages a connection may send at once before the rate limit applies (then close 1008)")
    ("send-queue-bytes", po::value<std::size_t>()->default_value(lim::default_send_queue_bytes),
     "per-connection outbound queue bound in bytes (over: close 1008 slow consumer)")
    ("send-queue-messages", po::value<std::size_t>()->default_value(lim::default_send_queue_messages),
     "per-connection outbound queue bound in messages")
    ("heartbeat-ms", po::value<int>()->default_value(lim::default_heartbeat_ms), "heartbeat interval to each layerd")
    ("layerd-timeout-ms", po::value<int>()->default_value(lim::default_layerd_timeout_ms),
     "a layerd silent this long is down; its groups move to the next layerd")
    ("join-timeout-ms", po::value<int>()->default_value(lim::default_join_timeout_ms),
     "how long a handshake waits for layerd's join acknowledgement before 503")
    ("ping-interval-ms", po::value<int>()->default_value(lim::default_ping_interval_ms),
     "ping a connection that has been silent this long")
    ("ping-timeout-ms", po::value<int>()->default_value(lim::default_ping_timeout_ms),
     "drop a connection that does not answer a ping within this time")
    ("allowed-origin", po::value<std::vector<std::string>>()->composing(),
     "an Origin allowed to open WebSockets: host, *.domain, .domain, host:port, https://host, or *; repeat. "
     "Default: the request's own Host. A handshake without Origin (not a browser) is allowed")
    ("trusted-proxy", po::value<std::vector<std::string>>()->composing(),
     "an IP address (e.g. nginx's) whose X-Forwarded-For and X-Forwarded-Proto are believed; repeat. "
     "From any other peer these headers are ignored")
    ("flush-interval-us", po::value<int>()->default_value(0),
     "0: queued frames are written at the end of each event-loop pass (lowest latency); N: also at most one "
     "such write pass per N microseconds per thread, so under steady load several messages share a write "
     "(less CPU per delivery, up to N us more latency; a message after a quiet spell still goes at once)")
    ("drain-timeout-ms", po::value<int>()->default_value(10000),
     "on SIGTERM: how long clients get to leave (after close 1001) before the process exits")
    ("tls-cert", po::value<std::string>()->default_value(""),
     "PEM certificate chain (leaf first): serve https and wss on --listen; needs --tls-key; re-read on SIGHUP")
    ("tls-key", po::value<std::string>()->default_value(""), "PEM private key for --tls-cert");
  sb::common::add_common_options(desc);
  auto vm = sb::common::parse_command_line(argc, argv, desc, "switchboard-gateway",
                                           "Switchboard gateway: chat pages and WebSockets, groups via layerd.");
  if (!sb::common::setup_logging(vm["log-level"].as<std::string>())) usage_error("unknown --log-level");

  sb::gateway::gateway_config cfg;
  const auto listen = vm["listen"].as<std::string>();
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) usage_error("--listen must be host:port");
  cfg.listen_host = listen.substr(0, colon);
  if (cfg.listen_host.size() > 2 && cfg.listen_host.front() == '[' && cfg.listen_host.back() == ']') {
    cfg.listen_host = cfg.listen_host.substr(1, cfg.listen_host.size() - 2);
  }
  try {
    const int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    cfg.listen_port = static_cast<unsigned short>(port);
  } catch (const std::exception&) {
    usage_error("--listen port must be 0..65535");
  }
  cfg.layerds = vm["layerd"].as<std::vector<std::string>>();
  cfg.id = vm["id"].as<std::string>();
  if (!std::regex_match(cfg.id, std::regex("[A-Za-z0-9_-]{1,32}"))) {
    usage_error("--id must be 1-32 letters, digits, '-' or '_'");
  }
  cfg.threads = vm["threads"].as<std::size_t>();
  cfg.max_message_size = vm["max-message-size"].as<std::size_t>();
  cfg.rate_limit = vm["rate-limit"].as<double>();
  cfg.rate_burst = vm["rate-burst"].as<double>();
  cfg.send_queue_bytes = vm["send-queue-bytes"].as<std::size_t>();
  cfg.send_queue_messages = vm["send-queue-messages"].as<std::size_t>();
  cfg.heartbeat_ms = vm["heartbeat-ms"].as<int>();
  cfg.layerd_timeout_ms = vm["layerd-timeout-ms"].as<int>();
  cfg.join_timeout_ms = vm["join-timeout-ms"].as<int>();
  cfg.ping_interval_ms = vm["ping-interval-ms"].as<int>();
  cfg.ping_timeout_ms = vm["ping-timeout-ms"].as<int>();
  cfg.drain_timeout_ms = vm["drain-timeout-ms"].as<int>();
  cfg.flush_interval_us = vm["flush-interval-us"].as<int>();
  if (cfg.flush_interval_us < 0 || cfg.flush_interval_us > 100000) usage_error("--flush-interval-us must be 0..100000");
  if (vm.count("allowed-origin")) cfg.allowed_origins = vm["allowed-origin"].as<std::vector<std::string>>();
  if (vm.count("trusted-proxy")) {
    for (const auto& ip : vm["trusted-proxy"].as<std::vector<std::string>>()) {
      boost::system::error_code ec;
      const auto addr = boost::asio::ip::make_address(ip, ec);
      if (ec) usage_error("--trusted-proxy must be an IP address, got \"" + ip + "\"");
      cfg.trusted_proxies.push_back(addr.to_string());
    }
  }
  cfg.tls_cert = vm["tls-cert"].as<std::string>();
  cfg.tls_key = vm["tls-key"].as<std::string>();
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) usage_error("--tls-cert and --tls-key go together");
  if (cfg.drain_timeout_ms < 0) usage_error("--drain-timeout-ms must be >= 0");
  if (cfg.ping_interval_ms < 100 || cfg.ping_timeout_ms < 100) usage_error("ping interval and timeout must be >= 100 ms");
  if (cfg.threads < 1 || cfg.threads > 64) usage_error("--threads must be 1..64");
  if (cfg.max_message_size < 16) usage_error("--max-message-size must be at least 16");
  if (cfg.rate_limit <= 0 || cfg.rate_burst < 1) usage_error("--rate-limit must be > 0 and --rate-burst >= 1");
  if (cfg.send_queue_bytes < 1024 || cfg.send_queue_messages < 1) usage_error("send queue bounds too small");
  if (cfg.heartbeat_ms <= 0 || cfg.layerd_timeout_ms <= cfg.heartbeat_ms || cfg.join_timeout_ms <= 0) {
    usage_error("--layerd-timeout-ms must exceed --heartbeat-ms, and both be positive");
  }
  if (cfg.layerds.empty()) usage_error("at least one --layerd is needed");

  auto log = sb::common::log("main");
  try {
    sb::gateway::gateway_server server(cfg);
    server.on_reload = [&] { sb::common::reload_log_level(argc, argv, desc); };
    server.run();
  } catch (const std::exception& e) {
    log->critical("gateway failed error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
