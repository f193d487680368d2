// ipc.hpp — commands (parent -> worker) and reports (worker -> parent).
//
// Why this shape: each worker shares one AF_UNIX stream socketpair with the
// parent. Both ends were built from the same binary by fork(), so bodies are
// trivially-copyable structs copied byte for byte, followed where needed by
// histograms (sparse: only non-empty buckets) and per-room arrays. A message
// is {u32 type, u32 length, body}. Writes and reads are blocking and whole
// (messages are small and the reader is always waiting for them); a short
// read means the peer is gone. Free functions, no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/histogram.hpp"

namespace sb::bench {

enum class msg_type : std::uint32_t {
  cmd_connect = 1,
  cmd_load = 2,
  cmd_churn = 3,
  cmd_status = 4,
  cmd_close = 5,
  rep_connect = 101,
  rep_load = 102,
  rep_churn = 103,
  rep_status = 104,
  rep_closed = 105,
};

struct cmd_connect_body {
  std::uint64_t start_ns = 0;
  double rate = 0;  // this worker's share; 0 = unpaced
};

struct cmd_load_body {
  std::uint32_t step = 0;
  std::uint32_t senders_per_room = 0;  // 0 = every member sends
  double rate_per_sender = 0;
  std::uint64_t start_ns = 0, end_ns = 0, drain_end_ns = 0;
};

struct cmd_churn_body {
  double rate = 0;  // this worker's cycles per second
  std::uint64_t start_ns = 0, end_ns = 0, drain_end_ns = 0;
};

// Why a connection attempt failed; shared by the connect phase and churn.
enum class fail_kind { socket_error, addr_unavailable, refused, connect_error, http_503, http_other, bad_accept,
                       malformed, reset, timeout };

struct failure_counts {
  std::uint64_t socket_error = 0;    // socket()/bind() failed (EMFILE, EADDRINUSE...)
  std::uint64_t addr_unavailable = 0;  // no ephemeral port left (EADDRNOTAVAIL)
  std::uint64_t refused = 0;         // ECONNREFUSED
  std::uint64_t connect_error = 0;   // other connect errors
  std::uint64_t http_503 = 0;        // the gateway refused (no layerd / join timeout)
  std::uint64_t http_other = 0;      // another non-101 status
  std::uint64_t bad_accept = 0;      // 101 with a wrong or missing Sec-WebSocket-Accept
  std::uint64_t malformed = 0;       // not HTTP, or a head over 8 KiB
  std::uint64_t reset = 0;           // closed before the upgrade finished
  std::uint64_t timeout = 0;         // over --handshake-timeout
  std::uint64_t total() const {
    return socket_error + addr_unavailable + refused + connect_error + http_503 + http_other + bad_accept +
           malformed + reset + timeout;
  }
  void add(const failure_counts& o);
  void count(fail_kind why);
};

struct connect_report {
  std::uint64_t attempted = 0, opened = 0;
  failure_counts failed;
  std::uint64_t done_ns = 0;  // when the last attempt finished
  std::uint64_t cpu_us = 0;
  histogram handshake_ns;  // connect() to 101
};

struct load_counters {
  std::uint64_t sent = 0;
  std::uint64_t send_skipped = 0;   // a scheduled send that could not happen (sender closed, or bench behind)
  std::uint64_t received = 0;       // deliveries of this step's messages
  std::uint64_t stale = 0;          // deliveries of an earlier step's messages
  std::uint64_t foreign = 0;        // text that the bench did not send
  std::uint64_t error_frames = 0;   // {"type":"error",...}
  std::uint64_t fifo_violations = 0;
  std::uint64_t fifo_checked = 0;   // 1 if FIFO state fit in memory
  std::uint64_t closed_by_server = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t open_at_start = 0, open_at_end = 0;
  std::uint64_t cpu_us = 0;
};

struct load_report {
  load_counters c;
  histogram latency_ns;
  std::uint64_t room_lo = 0;
  std::vector<std::uint32_t> open_per_room;  // at the step's start
  std::vector<std::uint64_t> sent_per_room;
};

struct churn_counters {
  std::uint64_t attempted = 0, completed = 0;
  std::uint64_t skipped_busy = 0;  // a due cycle found every slot in use
  failure_counts failed;
  std::uint64_t echo_timeout = 0, close_timeout = 0, closed_early = 0, unfinished = 0;
  std::uint64_t cpu_us = 0;
};

struct churn_report {
  churn_counters c;
  histogram cycle_ns;      // connect() to the server's FIN
  histogram handshake_ns;  // connect() to 101 (the join is acknowledged before it)
};

struct status_report {
  std::uint64_t open = 0, closed_by_server = 0, protocol_errors = 0, cpu_us = 0;
};

// Encoders and decoders of bodies.
std::string encode(const connect_report& r);
std::string encode(const load_report& r);
std::string encode(const churn_report& r);
bool decode(std::string_view body, connect_report& r);
bool decode(std::string_view body, load_report& r);
bool decode(std::string_view body, churn_report& r);

template <class T>
std::string encode_pod(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
bool decode_pod(std::string_view body, T& v);

// Whole-message I/O on a blocking socket. false = peer gone or garbage.
bool send_message(int fd, msg_type type, std::string_view body);
bool recv_message(int fd, msg_type& type, std::string& body);

}  // namespace sb::bench
