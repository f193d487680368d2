// bench_options.cpp — see bench_options.hpp.
#include "bench/bench_options.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace sb::bench {

namespace {

[[noreturn]] void usage_error(const std::string& text) {
  std::cerr << "switchboard-bench: " << text << " (see --help)\n";
  std::exit(2);
}

std::uint32_t parse_ipv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) usage_error("not an IPv4 address: " + s);
  return a.s_addr;
}

target parse_url(const std::string& url) {
  const std::string scheme = "ws://";
  if (url.rfind(scheme, 0) != 0) usage_error("--url must be ws://A.B.C.D:PORT, got " + url);
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) usage_error("--url needs a port: " + url);
  target t;
  t.addr = parse_ipv4(rest.substr(0, colon));
  unsigned port = 0;
  const std::string p = rest.substr(colon + 1);
  auto r = std::from_chars(p.data(), p.data() + p.size(), port);
  if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || port == 0 || port > 65535)
    usage_error("bad port in --url " + url);
  t.port = static_cast<std::uint16_t>(port);
  t.host_port = rest;
  return t;
}

void add_source_ips(const std::string& spec, std::vector<std::uint32_t>& out) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      out.push_back(parse_ipv4(item));
      continue;
    }
    const std::uint32_t lo = ntohl(parse_ipv4(item.substr(0, dash)));
    const std::uint32_t hi = ntohl(parse_ipv4(item.substr(dash + 1)));
    if (hi < lo || hi - lo >= 256) usage_error("--source-ips range must be ascending and at most 256 addresses");
    for (std::uint32_t a = lo; a <= hi; ++a) out.push_back(htonl(a));
  }
}

// A comma-separated list of positive numbers, for --rates and --durations.
std::vector<double> parse_list(const std::string& spec, const char* name) {
  std::vector<double> rates;
  if (spec == "auto") return rates;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const double r = std::stod(item, &used);
      if (used != item.size() || !(r > 0) || r > 10'000'000) throw std::invalid_argument("range");
      rates.push_back(r);
    } catch (const std::exception&) {
      usage_error(std::string("--") + name + " wants positive numbers separated by commas, or auto; got " + spec);
    }
  }
  if (rates.empty() || rates.size() > 64) usage_error(std::string("--") + name + " wants 1 to 64 numbers");
  return rates;
}

void check_range(const char* name, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi)) {
    std::ostringstream os;
    os << "--" << name << " must be within [" << lo << ", " << hi << "], got " << v;
    usage_error(os.str());
  }
}

}  // namespace

bench_options parse_options(int argc, char** argv) {
  bench_options o;
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "this text")
    ("url", po::value<std::vector<std::string>>()->composing(),
     "gateway ws://A.B.C.D:PORT (repeat: clients are spread round-robin over the gateways); default ws://127.0.0.1:8000")
    ("workers", po::value<unsigned>()->default_value(0), "worker processes (0 = enough for the connection count, at least 2)")
    ("busy-poll-us", po::value<double>()->default_value(0),
     "after receiving, a worker polls without sleeping for this long (0 = sleep in epoll at once). Models remote "
     "clients: on loopback the server's send otherwise also pays for waking a sleeping worker")
    ("source-ips", po::value<std::vector<std::string>>()->composing(),
     "local addresses to bind before connect: 127.0.0.1-127.0.0.8 or a,b,c (default: kernel's choice)")
    ("duration", po::value<double>()->default_value(5), "seconds of load per step (idle: seconds to hold)")
    ("drain", po::value<double>()->default_value(2), "seconds to wait for late deliveries after a step")
    ("settle", po::value<double>()->default_value(2), "idle: seconds between the last connect and the RSS reading")
    ("deadline", po::value<double>()->default_value(600), "hard limit on the whole run, seconds")
    ("handshake-timeout", po::value<double>()->default_value(10), "seconds a connect + upgrade (or a churn cycle) may take")
    ("max-connections", po::value<std::uint64_t>()->default_value(200'000), "refuse plans with more open connections")
    ("connect-concurrency", po::value<unsigned>()->default_value(200), "in-flight handshakes (churn: cycles) per worker")
    ("connect-rate", po::value<double>()->default_value(0), "new connections per second, all workers (0 = no pacing)")
    ("server-pid", po::value<std::vector<int>>()->composing(), "a server process to measure (RSS, CPU); repeatable")
    ("room-prefix", po::value<std::string>(), "room names are <prefix>_<n> (default b<pid>)")
    ("payload-bytes", po::value<std::size_t>()->default_value(0), "extra padding bytes per message")
    ("table", "print the readable table on stdout instead of JSON lines")
    ("quiet,q", "no table or progress on stderr")
    ("clients", po::value<std::uint64_t>(), "idle/rooms: connections (idle 1000, rooms 10000)")
    ("room-size", po::value<std::uint32_t>(), "idle/rooms: members per room (idle 50, rooms 10)")
    ("members", po::value<std::uint32_t>()->default_value(1000), "fanout: members of the one room")
    ("senders", po::value<std::uint32_t>()->default_value(10), "fanout: minimum senders (raised to keep each under --max-sender-rate)")
    ("sender-path", po::value<std::string>()->default_value(""),
     "fanout: the first --senders members connect to PATH<room>/ (a route of another consumer on the same group, "
     "e.g. /ws/pub/) instead of /ws/chat/<room>/, and they alone send, every step; empty = members send, spread "
     "over the room")
    ("rates", po::value<std::string>()->default_value("auto"), "fanout: aggregate msg/s per step, e.g. 100,200,400; auto = double from --rate-start")
    ("durations", po::value<std::string>()->default_value("auto"),
     "fanout: seconds of load per step, one per --rates entry, e.g. 10,60,10; auto = --duration for every step")
    ("all-steps", "fanout: run every step of --rates even after one is not sustainable (overload, then recovery)")
    ("rate-start", po::value<double>()->default_value(100), "fanout auto: first rate")
    ("rate-max", po::value<double>()->default_value(1'000'000), "fanout auto: last rate tried")
    ("max-sender-rate", po::value<double>()->default_value(40), "fanout: msg/s one connection may send (gateway --rate-limit is 50)")
    ("max-p99-ms", po::value<double>()->default_value(1000), "fanout: a step with a higher p99 is not sustainable")
    ("min-delivery", po::value<double>()->default_value(0.99), "fanout: a step with a lower delivery ratio is not sustainable")
    ("half-max", "fanout: after the steps, run one more at half the highest sustainable rate unless a step already ran there (the summary reports that step's latency)")
    ("rate-per-client", po::value<double>()->default_value(1), "rooms: msg/s each client sends")
    ("rate", po::value<double>()->default_value(100), "churn: target cycles per second")
    ("rooms", po::value<std::uint32_t>()->default_value(100), "churn: rooms the cycles join")
    ("no-echo", "churn: close right after the 101 instead of waiting for one's own message");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("scenario", po::value<std::string>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("scenario", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << "usage: switchboard-bench idle|fanout|rooms|churn [options]\n\n"
                 "WebSocket load generator for switchboard-gateway. One JSON line per result on stdout,\n"
                 "a readable table on stderr. See bench/README.md.\n\n"
              << desc << "\n";
    std::exit(0);
  }
  if (!vm.count("scenario")) usage_error("name a scenario: idle, fanout, rooms or churn");
  o.scenario_name = vm["scenario"].as<std::string>();
  if (o.scenario_name == "idle") o.what = scenario::idle;
  else if (o.scenario_name == "fanout") o.what = scenario::fanout;
  else if (o.scenario_name == "rooms") o.what = scenario::rooms;
  else if (o.scenario_name == "churn") o.what = scenario::churn;
  else usage_error("unknown scenario " + o.scenario_name);

  const auto urls = vm.count("url") ? vm["url"].as<std::vector<std::string>>()
                                    : std::vector<std::string>{"ws://127.0.0.1:8000"};
  if (urls.size() > 64) usage_error("at most 64 --url");
  for (const auto& u : urls) o.urls.push_back(parse_url(u));
  if (vm.count("source-ips"))
    for (const auto& s : vm["source-ips"].as<std::vector<std::string>>()) add_source_ips(s, o.source_ips);
  if (o.source_ips.size() > 256) usage_error("at most 256 source addresses");

  o.workers = vm["workers"].as<unsigned>();
  o.busy_poll_us = vm["busy-poll-us"].as<double>();
  o.duration_s = vm["duration"].as<double>();
  o.drain_s = vm["drain"].as<double>();
  o.settle_s = vm["settle"].as<double>();
  o.deadline_s = vm["deadline"].as<double>();
  o.handshake_timeout_s = vm["handshake-timeout"].as<double>();
  o.max_connections = vm["max-connections"].as<std::uint64_t>();
  o.connect_concurrency = vm["connect-concurrency"].as<unsigned>();
  o.connect_rate = vm["connect-rate"].as<double>();
  if (vm.count("server-pid")) o.server_pids = vm["server-pid"].as<std::vector<int>>();
  o.room_prefix = vm.count("room-prefix") ? vm["room-prefix"].as<std::string>() : std::string("b").append(std::to_string(getpid()));
  o.payload_bytes = vm["payload-bytes"].as<std::size_t>();
  o.table_on_stdout = vm.count("table") > 0;
  o.quiet = vm.count("quiet") > 0;
  o.members = vm["members"].as<std::uint32_t>();
  o.senders = vm["senders"].as<std::uint32_t>();
  o.sender_path = vm["sender-path"].as<std::string>();
  o.rates = parse_list(vm["rates"].as<std::string>(), "rates");
  o.step_durations = parse_list(vm["durations"].as<std::string>(), "durations");
  if (!o.step_durations.empty() && o.step_durations.size() != o.rates.size()) {
    usage_error("--durations wants one number per --rates entry");
  }
  for (double d : o.step_durations) check_range("durations", d, 0.1, 3600);
  o.all_steps = vm.count("all-steps") != 0;
  o.rate_start = vm["rate-start"].as<double>();
  o.rate_max = vm["rate-max"].as<double>();
  o.max_sender_rate = vm["max-sender-rate"].as<double>();
  o.max_p99_ms = vm["max-p99-ms"].as<double>();
  o.min_delivery = vm["min-delivery"].as<double>();
  o.half_max_step = vm.count("half-max") != 0;
  o.rate_per_client = vm["rate-per-client"].as<double>();
  o.churn_rate = vm["rate"].as<double>();
  o.churn_rooms = vm["rooms"].as<std::uint32_t>();
  o.churn_echo = vm.count("no-echo") == 0;
  const bool is_rooms = o.what == scenario::rooms;
  o.clients = vm.count("clients") ? vm["clients"].as<std::uint64_t>() : (is_rooms ? 10'000 : 1'000);
  o.room_size = vm.count("room-size") ? vm["room-size"].as<std::uint32_t>() : (is_rooms ? 10 : 50);

  check_range("workers", o.workers, 0, 256);
  check_range("busy-poll-us", o.busy_poll_us, 0, 100'000);
  check_range("duration", o.duration_s, 0, 3600);
  check_range("drain", o.drain_s, 0.1, 600);
  check_range("settle", o.settle_s, 0, 600);
  check_range("deadline", o.deadline_s, 1, 4 * 3600);
  check_range("handshake-timeout", o.handshake_timeout_s, 0.1, 120);
  check_range("max-connections", static_cast<double>(o.max_connections), 1, 10'000'000);
  check_range("connect-concurrency", o.connect_concurrency, 1, 20'000);
  check_range("connect-rate", o.connect_rate, 0, 10'000'000);
  check_range("payload-bytes", static_cast<double>(o.payload_bytes), 0, 1'000'000);
  check_range("clients", static_cast<double>(o.clients), 1, 10'000'000);
  check_range("room-size", o.room_size, 1, 10'000'000);
  check_range("members", o.members, 1, 10'000'000);
  check_range("senders", o.senders, 1, 10'000'000);
  check_range("rate-start", o.rate_start, 0.001, 10'000'000);
  check_range("rate-max", o.rate_max, o.rate_start, 10'000'000);
  check_range("max-sender-rate", o.max_sender_rate, 0.001, 100'000);
  check_range("max-p99-ms", o.max_p99_ms, 0.001, 600'000);
  check_range("min-delivery", o.min_delivery, 0, 1);
  check_range("rate-per-client", o.rate_per_client, 0.001, 100'000);
  check_range("rate", o.churn_rate, 0.001, 1'000'000);
  check_range("rooms", o.churn_rooms, 1, 10'000'000);
  for (int pid : o.server_pids)
    if (pid <= 0 || access(("/proc/" + std::to_string(pid) + "/stat").c_str(), R_OK) != 0)
      usage_error("--server-pid " + std::to_string(pid) + " is not a running process");
  if (o.room_prefix.empty() || o.room_prefix.size() > 60) usage_error("--room-prefix must be 1-60 characters");
  for (char c : o.room_prefix)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) usage_error("--room-prefix must be [A-Za-z0-9_]");
  if (!o.sender_path.empty()) {
    const auto& sp = o.sender_path;
    const bool shape = sp.size() >= 5 && sp.size() <= 60 && sp.rfind("/ws/", 0) == 0 && sp.back() == '/' &&
                       std::all_of(sp.begin(), sp.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-';
                       });
    if (!shape) usage_error("--sender-path must be a path like /ws/pub/ ([A-Za-z0-9_-/], at most 60 characters)");
    if (o.what != scenario::fanout) usage_error("--sender-path is for fanout only");
    if (o.senders >= o.members) usage_error("--sender-path needs --senders below --members");
  }
  return o;
}

}  // namespace sb::bench
