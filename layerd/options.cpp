// options.cpp — see options.hpp.
#include "layerd/options.hpp"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>

#include <boost/asio/ip/address.hpp>

#include "common/cli.hpp"
#include "common/logging.hpp"

namespace po = boost::program_options;

namespace sb::layerd {

namespace {

constexpr const char* program = "switchboard-layerd";

[[noreturn]] void fail(const std::string& line) {
  std::cerr << program << ": " << line << "\n";
  std::exit(2);
}

std::string listen_text(const common::host_port& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

common::host_port listen_value(const po::variables_map& vm, const char* option) {
  auto parsed = common::parse_host_port(vm[option].as<std::string>());
  if (!parsed) fail(std::string("--") + option + " " + parsed.error_text());
  return parsed.value();
}

int number(const po::variables_map& vm, const char* option) { return vm[option].as<int>(); }

std::vector<std::string> repeated(const po::variables_map& vm, const char* option) {
  return vm.count(option) ? vm[option].as<std::vector<std::string>>() : std::vector<std::string>{};
}

// GLOB=N, N > 0.
std::pair<std::string, int> capacity_spec(const std::string& spec) {
  const auto eq = spec.rfind('=');
  int cap = 0;
  try {
    if (eq != std::string::npos) cap = std::stoi(spec.substr(eq + 1));
  } catch (const std::exception&) {
  }
  if (eq == std::string::npos || eq == 0 || cap <= 0) {
    fail("--channel-capacity must be GLOB=N with N > 0, got \"" + spec + "\"");
  }
  return {spec.substr(0, eq), cap};
}

// Legal (channels_redis allows it too: both positions are one server), but
// usually a copy-paste slip.
void warn_repeated_hosts(const std::vector<common::redis_url>& hosts) {
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (common::describe(hosts[i]) == common::describe(hosts[j])) {
        common::log("main")->warn("redis host listed twice host={} positions={},{}", common::describe(hosts[i]), j, i);
      }
    }
  }
}

// A positive count within int, digits only.
std::optional<long long> positive(const std::string& s, long long max) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > max) return std::nullopt;
  return v;
}

}  // namespace

common::result<std::optional<history_setting>> parse_history_setting(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() == 1 && words[0] == "off") return std::optional<history_setting>{};
  if (words.size() != 3) return common::error{"must be 'PATTERN MAXLEN TTL' or 'off', got \"" + text + "\""};
  history_setting h;
  h.pattern = words[0];
  const auto maxlen = positive(words[1], 1'000'000);
  if (!maxlen) return common::error{"MAXLEN must be a whole number from 1 to 1000000, got \"" + words[1] + "\""};
  h.maxlen = static_cast<int>(*maxlen);
  std::string ttl = words[2];
  long long unit = 1;
  if (!ttl.empty()) {
    switch (ttl.back()) {
      case 's': unit = 1; ttl.pop_back(); break;
      case 'm': unit = 60; ttl.pop_back(); break;
      case 'h': unit = 3600; ttl.pop_back(); break;
      case 'd': unit = 86400; ttl.pop_back(); break;
      default: break;
    }
  }
  const auto seconds = positive(ttl, 365LL * 86400 * 10);
  if (!seconds || *seconds * unit > 365LL * 86400 * 10) {
    return common::error{"TTL must be a positive number of seconds (or with s, m, h, d) up to 10 years, got \"" +
                         words[2] + "\""};
  }
  h.ttl_s = static_cast<int>(*seconds * unit);
  return std::optional<history_setting>{h};
}

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  std::string host = endpoint.substr(6);
  const auto colon = host.rfind(':');
  if (colon == std::string::npos) return false;
  host.resize(colon);
  // ZeroMQ's tcp://SOURCE;HOST form names the remote end: not a bind.
  if (host.find(';') != std::string::npos) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(host, ec);
  return !ec && addr.is_loopback();  // *, 0.0.0.0, an interface name or a DNS name: reachable from outside
}

po::options_description describe_options() {
  const layerd_options d;
  const layerd_config& c = d.layer;
  const std::string redis_default = "redis://" + common::describe(c.redis_hosts.front());
  po::options_description desc("Options");
  desc.add_options()
    ("bind", po::value<std::string>()->default_value(c.bind), "ZeroMQ ROUTER endpoint that gateways connect to")
    ("redis", po::value<std::vector<std::string>>()->composing()->default_value({redis_default}, redis_default),
     "Redis URL: redis://[:password@]host[:port][/db], or a Sentinel set: "
     "sentinel://host[:port][,host[:port]...]/master_name[?db=N&password=P&sentinel_password=S]; "
     "repeat for several hosts, in the order of Django's "
     "CHANNEL_LAYERS hosts (channels_redis' consistent hash picks a host by position)")
    ("prefix", po::value<std::string>()->default_value(c.prefix), "channels_redis key prefix")
    ("group-expiry", po::value<int>()->default_value(c.group_expiry_s),
     "seconds; TTL of group keys, refreshed on every join")
    ("refresh-interval", po::value<int>()->default_value(c.refresh_interval_s),
     "seconds between re-leasing every live member in Redis")
    ("gateway-timeout-ms", po::value<int>()->default_value(c.gateway_timeout_ms),
     "a gateway silent this long is dead and its members are removed")
    ("id", po::value<std::string>()->default_value(c.id), "name used in logs")
    ("expiry", po::value<int>()->default_value(c.expiry_s),
     "seconds; channels_redis message lifetime and inbox TTL for messages written to Django consumers")
    ("capacity", po::value<int>()->default_value(c.capacity),
     "messages a Django inbox key may hold (channels_redis capacity); over it a message is skipped")
    ("pending-max", po::value<int>()->default_value(c.pending_max),
     "notify events kept per notification_* group for clients that connect later")
    ("pending-age", po::value<int>()->default_value(c.pending_age_s), "seconds a pending notification is kept")
    ("history", po::value<std::vector<std::string>>()->composing()->default_value({"chat_* 100 24h"}, "chat_* 100 24h"),
     "'PATTERN MAXLEN TTL': keep about MAXLEN recent messages of the groups whose name matches the glob PATTERN "
     "in a Redis Stream that expires TTL (seconds, or 30m, 24h, 7d) after its last message; repeat, first match "
     "wins; 'off' keeps none")
    ("presence-debounce-ms", po::value<int>()->default_value(c.presence_debounce_ms),
     "presence: a group's joins and leaves are sent at most once per this window, as its net change (0: at once)")
    ("presence-list-max", po::value<int>()->default_value(c.presence_list_max),
     "presence: above this many users in a group, frames and answers carry the count only, not the list")
    ("channel-capacity", po::value<std::vector<std::string>>()->composing(),
     "GLOB=N: capacity for Django inbox keys whose first channel matches GLOB (channels_redis channel_capacity; "
     "repeat, first match wins)")
    ("symmetric-encryption-key", po::value<std::vector<std::string>>()->composing(),
     "a channels_redis symmetric_encryption_keys secret (repeat in the same order as Django; the first encrypts)")
    ("http-listen", po::value<std::string>()->default_value(listen_text(d.http_listen)),
     "host:port of the HTTP API (only when a token is set; port 0 picks a free port)")
    ("metrics-listen", po::value<std::string>()->default_value(d.metrics_listen ? listen_text(*d.metrics_listen) : ""),
     "host:port serving GET /metrics (Prometheus text, no auth); empty (the default) turns it off")
    ("curve-secret-file", po::value<std::string>()->default_value(c.curve_secret_file),
     "file with layerd's CURVE secret key (switchboard-cli keygen); with --curve-allow-file, only allow-listed "
     "keys may talk to --bind")
    ("curve-allow-file", po::value<std::string>()->default_value(c.curve_allow_file),
     "allow-list of CURVE public keys: lines `<key> gateway <id>` or `<key> client [<name>]`, # comments")
    ("insecure", po::bool_switch(),
     "allow a --bind beyond loopback without CURVE keys (anyone who reaches it can publish and drop members)")
    ("api-token", po::value<std::string>()->default_value(d.api_token),
     "bearer token for the HTTP API; empty (the default) turns the API off "
     "(SWITCHBOARD_API_TOKEN in the environment sets it, like any SWITCHBOARD_<OPTION>)");
  common::add_common_options(desc);
  return desc;
}

layerd_options parse_options(int argc, char** argv, const po::options_description& desc) {
  auto vm = common::parse_command_line(argc, argv, desc, program,
                                       "Switchboard channel layer: group membership in Redis, fan-out to gateways.");
  if (!common::setup_logging(vm["log-level"].as<std::string>())) fail("unknown --log-level (see --help)");
  layerd_options o;
  layerd_config& c = o.layer;
  c.bind = vm["bind"].as<std::string>();
  auto urls = common::parse_redis_urls(vm["redis"].as<std::vector<std::string>>());
  if (!urls) fail("--redis: " + urls.error_text());
  c.redis_hosts = std::move(urls.value());
  warn_repeated_hosts(c.redis_hosts);
  c.prefix = vm["prefix"].as<std::string>();
  c.group_expiry_s = number(vm, "group-expiry");
  c.refresh_interval_s = number(vm, "refresh-interval");
  c.gateway_timeout_ms = number(vm, "gateway-timeout-ms");
  c.id = vm["id"].as<std::string>();
  c.expiry_s = number(vm, "expiry");
  c.capacity = number(vm, "capacity");
  c.pending_max = number(vm, "pending-max");
  c.pending_age_s = number(vm, "pending-age");
  if (c.pending_max <= 0 || c.pending_age_s <= 0) fail("--pending-max and --pending-age must be positive");
  c.presence_debounce_ms = number(vm, "presence-debounce-ms");
  c.presence_list_max = number(vm, "presence-list-max");
  if (c.presence_debounce_ms < 0 || c.presence_debounce_ms > 60000) fail("--presence-debounce-ms must be 0..60000");
  if (c.presence_list_max < 0 || c.presence_list_max > 100000) fail("--presence-list-max must be 0..100000");
  if (c.expiry_s <= 0 || c.capacity <= 0) fail("--expiry and --capacity must be positive");
  if (c.group_expiry_s <= 0 || c.refresh_interval_s <= 0 || c.gateway_timeout_ms <= 0) {
    fail("--group-expiry, --refresh-interval and --gateway-timeout-ms must be positive");
  }
  c.history.clear();
  const auto history = repeated(vm, "history");
  for (const auto& spec : history) {
    auto h = parse_history_setting(spec);
    if (!h) fail("--history " + h.error_text());
    if (!h.value()) {
      if (history.size() > 1) fail("--history off cannot be combined with patterns");
      continue;
    }
    c.history.push_back(*h.value());
  }
  for (const auto& spec : repeated(vm, "channel-capacity")) c.channel_capacity.push_back(capacity_spec(spec));
  for (const auto& secret : repeated(vm, "symmetric-encryption-key")) c.encryption_keys.push_back(fernet::derive(secret));
  c.curve_secret_file = vm["curve-secret-file"].as<std::string>();
  c.curve_allow_file = vm["curve-allow-file"].as<std::string>();
  c.insecure = vm["insecure"].as<bool>();
  if (c.curve_secret_file.empty() != c.curve_allow_file.empty()) {
    fail("--curve-secret-file and --curve-allow-file go together");
  }
  // docs/architecture.md, rule 12: an open port beyond this host must be asked for.
  if (c.curve_secret_file.empty() && !c.insecure && !is_loopback_endpoint(c.bind)) {
    fail("--bind " + c.bind + " is reachable from other hosts and has no CURVE keys: give --curve-secret-file and "
         "--curve-allow-file (docs/operations.md, \"Securing layerd's port\"), or --insecure to run it open");
  }
  o.api_token = vm["api-token"].as<std::string>();
  o.http_listen = listen_value(vm, "http-listen");
  if (!vm["metrics-listen"].as<std::string>().empty()) o.metrics_listen = listen_value(vm, "metrics-listen");
  return o;
}

}  // namespace sb::layerd
