// options.cpp — see options.hpp.
#include "gateway/options.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>

#include "common/cli.hpp"
#include "common/host_port.hpp"
#include "common/logging.hpp"
#include "gateway/router.hpp"

namespace po = boost::program_options;

namespace sb::gateway {
namespace {

[[noreturn]] void usage_error(const std::string& text) {
  std::cerr << "switchboard-gateway: " << text << " (see --help)\n";
  std::exit(2);
}

// An option stored straight into its config field, defaulting to the
// field's value in a default-built config.
template <class T>
po::typed_value<T>* field(T& f) {
  return po::value<T>(&f)->default_value(f);
}

// The options, bound to `cfg` (whose values are the defaults shown) and
// `listen` (parsed after, since it fills two fields).
po::options_description describe(gateway_config& cfg, std::string& listen) {
  listen = cfg.listen_host + ":" + std::to_string(cfg.listen_port);
  std::string layerds;
  for (const auto& l : cfg.layerds) layerds += (layerds.empty() ? "" : " ") + l;
  po::options_description desc("Options");
  desc.add_options()
    ("listen", field(listen), "HTTP/WebSocket address host:port (port 0 picks a free port)")
    ("layerd", po::value(&cfg.layerds)->composing()->default_value(cfg.layerds, layerds),
     "a layerd endpoint; repeat for each layerd (every gateway must list the same endpoints)")
    ("id", field(cfg.id), "gateway name (letters, digits, '-', '_'); the run id adds a random suffix")
    ("threads", field(cfg.threads), "I/O threads")
    ("max-message-size", field(cfg.max_message_size),
     "bytes; a larger inbound message closes the connection with 1009")
    ("rate-limit", field(cfg.rate_limit), "inbound messages per second per connection")
    ("rate-burst", field(cfg.rate_burst),
     "messages a connection may send at once before the rate limit applies (then close 1008)")
    ("send-queue-bytes", field(cfg.send_queue_bytes),
     "per-connection outbound queue bound in bytes (a delivery that does not fit is dropped and counted)")
    ("send-queue-messages", field(cfg.send_queue_messages), "per-connection outbound queue bound in messages")
    ("slow-consumer-ms", field(cfg.slow_consumer_ms),
     "close a connection with 1008 slow consumer when its socket has taken no bytes this long while "
     "frames wait (0: as soon as its queue is full)")
    ("heartbeat-ms", field(cfg.heartbeat_ms), "heartbeat interval to each layerd")
    ("layerd-timeout-ms", field(cfg.layerd_timeout_ms),
     "a layerd silent this long is down; its groups move to the next layerd")
    ("unacked-max-messages", field(cfg.unacked_max_messages),
     "group_sends kept until a layerd acknowledges them (over: refused with an error frame)")
    ("unacked-max-bytes", field(cfg.unacked_max_bytes), "the same bound in bytes")
    ("join-timeout-ms", field(cfg.join_timeout_ms),
     "how long a handshake waits for layerd's join acknowledgement before 503")
    ("connect-timeout-ms", field(cfg.connect_timeout_ms),
     "django routes: how long a handshake waits for a worker to accept or refuse before 503")
    ("worker-timeout-ms", field(cfg.worker_timeout_ms),
     "django routes: a worker process silent this long is gone; its sockets close with 1012")
    ("history-timeout-ms", field(cfg.history_timeout_ms),
     "a ?history= or ?since= replay layerd has not answered within this is given up: the socket gets its live "
     "messages, and after since {\"type\":\"recovery\",\"complete\":false}")
    ("send-timeout-ms", field(cfg.send_timeout_ms),
     "django routes: a message to a worker that layerd has not answered this long fails (a connect 503, "
     "a browser message closes its socket with 1013)")
    ("ping-interval-ms", field(cfg.ping_interval_ms), "ping a connection that has been silent this long")
    ("ping-timeout-ms", field(cfg.ping_timeout_ms), "drop a connection that does not answer a ping within this time")
    ("allowed-origin", po::value(&cfg.allowed_origins)->composing(),
     "an Origin allowed to open WebSockets: host, *.domain, .domain, host:port, https://host, or *; repeat. "
     "Default: the request's own Host. A handshake without Origin (not a browser) is allowed")
    ("trusted-proxy", po::value(&cfg.trusted_proxies)->composing(),
     "an IP address (e.g. nginx's) whose X-Forwarded-For and X-Forwarded-Proto are believed; repeat. "
     "From any other peer these headers are ignored")
    ("route", po::value(&cfg.routes)->composing(),
     "'PATTERN KIND': a WebSocket route, tried in order (first match wins); repeat. PATTERN is a path under "
     "/ws/ ending in '/', of literal segments and <name> segments (each matches 1-100 \\w characters, "
     "percent-decoded); KIND is a built-in consumer, chat or notification, whose one <name> is its room, "
     "or django:NAME, the Django app's consumer run by 'runworker NAME' (any number of <name>s); a built-in KIND may "
     "be followed by auth=django:NAME, a Django consumer whose connect() admits each socket and names its user. "
     "Given at least once, replaces the default list: '/ws/chat/<room_name>/ chat' and "
     "'/ws/notification/<center_name>/ notification'")
    ("flush-interval-us", field(cfg.flush_interval_us),
     "0: queued frames are written at the end of each event-loop pass (lowest latency); N: also at most one "
     "such write pass per N microseconds per thread, so under steady load several messages share a write "
     "(less CPU per delivery, up to N us more latency; a message after a quiet spell still goes at once)")
    ("drain-timeout-ms", field(cfg.drain_timeout_ms),
     "on SIGTERM: how long clients get to leave (after close 1001) before the process exits")
    ("tls-cert", field(cfg.tls_cert),
     "PEM certificate chain (leaf first): serve https and wss on --listen; needs --tls-key; re-read on SIGHUP")
    ("tls-key", field(cfg.tls_key), "PEM private key for --tls-cert")
    ("curve-secret-file", field(cfg.curve_secret_file),
     "file with this gateway's CURVE secret key (switchboard-cli keygen): talk CURVE to every layerd; needs "
     "--layerd-public-key-file, and the public key on layerd's allow-list as `gateway <--id>`")
    ("layerd-public-key-file", field(cfg.layerd_public_key_file),
     "file with the layerds' CURVE public key (one key pair shared by every layerd)")
    ("jwt-secret", field(cfg.jwt_secret),
     "HS256 secret (at least 32 bytes): WebSocket handshakes may carry ?token=<JWT> with claims sub, name, exp, "
     "nbf, rooms; prefer --jwt-secret-file or SWITCHBOARD_JWT_SECRET (a command line is visible to ps)")
    ("jwt-secret-file", field(cfg.jwt_secret_file),
     "file holding the HS256 secret (one trailing newline is ignored); instead of --jwt-secret")
    ("jwt-leeway-s", field(cfg.jwt_leeway_s),
     "seconds of clock skew allowed when checking a token's exp and nbf (0..3600)")
    ("anonymous", field(cfg.anonymous),
     "allow or deny: whether a WebSocket without a token gets in as a guest (guest-<8 hex>). "
     "Default: allow without a JWT secret, deny with one");
  common::add_common_options(desc);
  return desc;
}

// Checks every value; writes trusted proxies as remote_endpoint() will.
void check(gateway_config& cfg) {
  if (!std::regex_match(cfg.id, std::regex("[A-Za-z0-9_-]{1,32}"))) {
    usage_error("--id must be 1-32 letters, digits, '-' or '_'");
  }
  if (cfg.flush_interval_us < 0 || cfg.flush_interval_us > 100000) {
    usage_error("--flush-interval-us must be 0..100000");
  }
  for (auto& ip : cfg.trusted_proxies) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(ip, ec);
    if (ec) usage_error("--trusted-proxy must be an IP address, got \"" + ip + "\"");
    ip = addr.to_string();
  }
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) usage_error("--tls-cert and --tls-key go together");
  if (cfg.curve_secret_file.empty() != cfg.layerd_public_key_file.empty()) {
    usage_error("--curve-secret-file and --layerd-public-key-file go together");
  }
  if (cfg.drain_timeout_ms < 0) usage_error("--drain-timeout-ms must be >= 0");
  if (cfg.ping_interval_ms < 100 || cfg.ping_timeout_ms < 100) usage_error("ping interval and timeout must be >= 100 ms");
  if (cfg.threads < 1 || cfg.threads > 64) usage_error("--threads must be 1..64");
  if (cfg.max_message_size < 16) usage_error("--max-message-size must be at least 16");
  if (cfg.rate_limit <= 0 || cfg.rate_burst < 1) usage_error("--rate-limit must be > 0 and --rate-burst >= 1");
  if (cfg.send_queue_bytes < 1024 || cfg.send_queue_messages < 1) usage_error("send queue bounds too small");
  if (cfg.unacked_max_messages < 1 || cfg.unacked_max_bytes < 1024) {
    usage_error("--unacked-max-messages must be >= 1 and --unacked-max-bytes >= 1024");
  }
  if (cfg.slow_consumer_ms < 0 || cfg.slow_consumer_ms > 600000) usage_error("--slow-consumer-ms must be 0..600000");
  if (cfg.heartbeat_ms <= 0 || cfg.layerd_timeout_ms <= cfg.heartbeat_ms || cfg.join_timeout_ms <= 0) {
    usage_error("--layerd-timeout-ms must exceed --heartbeat-ms, and both be positive");
  }
  if (cfg.connect_timeout_ms < 100 || cfg.connect_timeout_ms > 600000) usage_error("--connect-timeout-ms must be 100..600000");
  if (cfg.worker_timeout_ms < 1000 || cfg.worker_timeout_ms > 600000) usage_error("--worker-timeout-ms must be 1000..600000");
  if (cfg.send_timeout_ms < 100 || cfg.send_timeout_ms > 600000) usage_error("--send-timeout-ms must be 100..600000");
  if (cfg.history_timeout_ms < 100 || cfg.history_timeout_ms > 600000) {
    usage_error("--history-timeout-ms must be 100..600000");
  }
  if (cfg.layerds.empty()) usage_error("at least one --layerd is needed");
  if (!cfg.jwt_secret.empty() && !cfg.jwt_secret_file.empty()) usage_error("--jwt-secret and --jwt-secret-file exclude each other");
  if (!cfg.jwt_secret_file.empty()) {
    std::ifstream in(cfg.jwt_secret_file, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) usage_error("--jwt-secret-file: cannot read \"" + cfg.jwt_secret_file + "\"");
    cfg.jwt_secret = text.str();
    if (!cfg.jwt_secret.empty() && cfg.jwt_secret.back() == '\n') cfg.jwt_secret.pop_back();
    if (!cfg.jwt_secret.empty() && cfg.jwt_secret.back() == '\r') cfg.jwt_secret.pop_back();
  }
  if (!cfg.jwt_secret.empty() && cfg.jwt_secret.size() < common::limits::min_jwt_secret_bytes) {
    usage_error("the JWT secret must be at least " + std::to_string(common::limits::min_jwt_secret_bytes) + " bytes");
  }
  if (cfg.jwt_leeway_s < 0 || cfg.jwt_leeway_s > common::limits::max_jwt_leeway_s) {
    usage_error("--jwt-leeway-s must be 0.." + std::to_string(common::limits::max_jwt_leeway_s));
  }
  if (!cfg.anonymous.empty() && cfg.anonymous != "allow" && cfg.anonymous != "deny") {
    usage_error("--anonymous must be allow or deny");
  }
  std::string route_error;
  if (!route_table::parse(cfg.routes, route_error)) usage_error(route_error);
}

}  // namespace

gateway_config parse_options(int argc, char** argv) {
  gateway_config cfg;
  std::string listen;
  const auto desc = describe(cfg, listen);
  const auto vm = common::parse_command_line(argc, argv, desc, "switchboard-gateway",
                                             "Switchboard gateway: chat pages and WebSockets, groups via layerd.");
  if (!common::setup_logging(vm["log-level"].as<std::string>())) usage_error("unknown --log-level");
  auto where = common::parse_host_port(listen);
  if (!where) usage_error("--listen " + where.error_text());
  cfg.listen_host = std::move(where->host);
  cfg.listen_port = where->port;
  check(cfg);
  return cfg;
}

bool reload_log_level(int argc, char** argv) {
  gateway_config scratch;
  std::string listen;
  return common::reload_log_level(argc, argv, describe(scratch, listen));
}

}  // namespace sb::gateway
