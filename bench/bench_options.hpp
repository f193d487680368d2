// bench_options.hpp — the command line of switchboard-bench, parsed and checked.
//
// Why this shape: every option is validated and bounded once, here, before
// any process is forked, so workers can trust the plan they inherit. Targets
// are IPv4 literals only (no DNS): the bench never connects anywhere but the
// addresses it was given. Plain data; copied into every worker by fork().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sb::bench {

enum class scenario { idle, fanout, rooms, churn };

struct target {
  std::string host_port;  // "127.0.0.1:8000", sent as Host:
  std::uint32_t addr = 0; // network byte order
  std::uint16_t port = 0; // host byte order
};

struct bench_options {
  scenario what = scenario::idle;
  std::string scenario_name;

  std::vector<target> urls;
  std::vector<std::uint32_t> source_ips;  // network byte order; empty = let the kernel pick
  unsigned workers = 0;                   // 0 = automatic
  double busy_poll_us = 0;                // workers poll without sleeping this long after traffic
  double duration_s = 5;
  double drain_s = 2;
  double settle_s = 2;
  double deadline_s = 600;
  double handshake_timeout_s = 10;
  std::uint64_t max_connections = 200'000;
  unsigned connect_concurrency = 200;  // in-flight handshakes (or churn cycles) per worker
  double connect_rate = 0;             // aggregate new connections per second, 0 = as fast as allowed
  std::vector<int> server_pids;
  std::string room_prefix;
  std::size_t payload_bytes = 0;
  bool table_on_stdout = false;
  bool quiet = false;

  // idle, rooms
  std::uint64_t clients = 0;
  std::uint32_t room_size = 0;
  // fanout
  std::uint32_t members = 1000;
  std::uint32_t senders = 10;
  // --sender-path: the first `senders` members of the room connect to
  // <sender_path><room>/ and send every step (empty: members send, spread)
  std::string sender_path;
  std::vector<double> rates;  // empty = automatic doubling
  double rate_start = 100;
  double rate_max = 1'000'000;
  double max_sender_rate = 40;  // stays under the gateway's default --rate-limit 50
  double max_p99_ms = 1000;
  double min_delivery = 0.99;
  bool half_max_step = false;  // --half-max
  std::vector<double> step_durations;  // --durations: seconds of step k (empty: duration_s for all)
  bool all_steps = false;              // --all-steps: do not stop at an unsustainable step
  // rooms
  double rate_per_client = 1;
  // churn
  double churn_rate = 100;
  std::uint32_t churn_rooms = 100;
  bool churn_echo = true;
};

// Parses argv; on a bad option prints one line and exits with code 2,
// on --help prints usage and exits 0.
bench_options parse_options(int argc, char** argv);

}  // namespace sb::bench
