// server_context.hpp — what every session needs to reach: config, hub, layer link.
//
// Built once by gateway_server and outlives every session; the members it
// points to are thread-safe where sessions use them (hub::deliver and the
// link's public methods), read-only (config, policies) or atomic (stats).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/close_reason.hpp"
#include "gateway/gateway_config.hpp"
#include "gateway/join_query.hpp"
#include "gateway/origin_policy.hpp"
#include "gateway/router.hpp"
#include "gateway/token_auth.hpp"
#include "gateway/tls_context.hpp"

namespace sb::gateway {

class hub;
class layer_link;
class worker_registry;
class worker_outbox;
class worker_door;

// The statuses a /ws-check answers with (http_session.hpp), in metric order.
inline constexpr std::array<unsigned, 5> ws_check_statuses{204, 400, 403, 404, 503};
inline constexpr std::size_t ws_check_status_count = ws_check_statuses.size();
inline std::size_t ws_check_slot(unsigned status) {
  for (std::size_t i = 0; i < ws_check_status_count; ++i) {
    if (ws_check_statuses[i] == status) return i;
  }
  return ws_check_status_count - 1;  // not reached: admission() refuses with the statuses above only
}

struct gateway_stats {
  std::atomic<std::uint64_t> handshakes{0};
  std::atomic<std::uint64_t> refused_not_found{0};
  std::atomic<std::uint64_t> refused_unavailable{0};
  std::atomic<std::uint64_t> refused_bad_handshake{0};
  std::atomic<std::uint64_t> refused_bad_query{0};  // a join parameter (presence) malformed or repeated: 400
  std::atomic<std::uint64_t> refused_origin{0};
  std::atomic<std::uint64_t> refused_auth{0};
  std::array<std::atomic<std::uint64_t>, auth_refusal_count> auth_refusals{};  // refused_auth by reason
  std::atomic<std::uint64_t> bad_requests{0};    // HTTP requests refused with 400 as malformed
  // POST /ws-check answers, by status (ws_check_statuses).
  std::array<std::atomic<std::uint64_t>, ws_check_status_count> ws_checks{};
  std::atomic<std::uint64_t> bad_frames{0};      // bad JSON / bad message (error frames sent)
  std::atomic<std::uint64_t> pings{0};           // {"type":"ping"} frames answered with a pong
  // Bumped only by websocket_session::close, indexed by close_reason.
  std::array<std::atomic<std::uint64_t>, close_reason_count> closes{};
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  // Overload (docs/architecture.md, rule 4): deliveries dropped because a
  // connection's send queue was full, and connections whose queue is full now.
  std::atomic<std::uint64_t> deliveries_dropped{0};
  std::atomic<std::uint64_t> connections_behind{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> socket_writes{0};  // write system calls (or TLS writes) that sent frames
  std::atomic<std::uint64_t> tls_handshakes{0};
  std::atomic<std::uint64_t> tls_failures{0};     // TLS handshakes that failed
  std::atomic<std::uint64_t> tls_plain_http{0};   // plain HTTP sent to the TLS port
  // History (docs/protocol.md, History).
  std::array<std::atomic<std::uint64_t>, join_query_refusal_count> join_query_refusals{};  // 400 by reason
  std::atomic<std::uint64_t> history_replays{0};     // sockets that asked for a replay
  std::atomic<std::uint64_t> history_replayed{0};    // messages replayed
  std::atomic<std::uint64_t> history_duplicates{0};  // held live messages dropped: already replayed
  std::atomic<std::uint64_t> history_unanswered{0};  // replays layerd did not answer (timeout, link lost, none up)
  std::atomic<std::uint64_t> history_incomplete{0};  // recovery frames with complete=false
  // Django routes (docs/protocol.md, Part 3; docs/operations.md, Metrics).
  struct worker_counters {
    enum connect_outcome : std::uint8_t { accepted, refused, timeout, unavailable, connect_outcomes };
    enum drop_reason : std::uint8_t {
      unknown_socket,  // a message for a socket this gateway does not hold
      bad_message,     // not a worker message (shape, fields, sizes, RENDER, UTF-8)
      out_of_order,    // a duplicate seq, or a socket closed for a gap
      send_failed,     // a message to a worker that could not be handed on
      before_accept,   // websocket.send before the accept
      wrong_worker,    // a message naming another worker than the socket's
      drop_reasons
    };
    std::array<std::atomic<std::uint64_t>, connect_outcomes> connects{};
    std::atomic<std::int64_t> sockets{0};  // accepted and open now
    std::atomic<std::uint64_t> to_worker{0};
    std::atomic<std::uint64_t> from_worker{0};
    std::atomic<std::uint64_t> batches_to_worker{0};    // switchboard.batch messages sent
    std::atomic<std::uint64_t> batches_from_worker{0};  // switchboard.batch messages taken
    std::atomic<std::uint64_t> events_rendered{0};   // fast path: deliveries the gateway rendered itself
    std::atomic<std::uint64_t> events_forwarded{0};  // switchboard.event sent to a worker
    std::atomic<std::uint64_t> events_by_layerd{0};  // events layerd wrote to the socket's worker itself
    std::atomic<std::uint64_t> group_sends_by_layerd{0};  // workers' group_sends a sole layerd applied where it popped them
    std::atomic<std::uint64_t> group_sends_by_layerd_ahead{0};  // ... that arrived here ahead of an earlier seq of their socket
    std::array<std::atomic<std::uint64_t>, drop_reasons> dropped{};
    std::atomic<std::uint64_t> workers_lost{0};
    std::atomic<std::uint64_t> close_codes_replaced{0};  // a websocket.close code a server may not send
  };
  worker_counters workers;
};

// --route values parse_options already accepted.
inline route_table checked_routes(const std::vector<std::string>& specs) {
  std::string error;
  auto table = route_table::parse(specs, error);
  if (!table) throw std::invalid_argument(error);
  return std::move(*table);
}

struct server_context {
  server_context(const gateway_config& c, hub& h, layer_link& l, std::string id)
      : cfg(c), hub_ref(h), link(l), gateway_id(std::move(id)), origins(c.allowed_origins),
        routes(checked_routes(c.routes)),
        auth(std::make_unique<token_auth>(c.jwt_secret, c.jwt_leeway_s, c.anonymous_allowed(), guest_key())) {}

  // Seeds guest names (token_auth.hpp): random per process.
  static std::uint64_t guest_key() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }

  const gateway_config& cfg;
  hub& hub_ref;
  layer_link& link;
  std::string gateway_id;  // run id: "<--id>.<16 hex>"
  origin_policy origins;
  route_table routes;  // --route, checked by options.cpp
  std::unique_ptr<const auth_policy> auth;  // asked before every upgrade
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> draining{false};  // SIGTERM: /healthz says 503, clients are asked to go
  tls_holder tls;                     // empty unless --tls-cert/--tls-key
  worker_registry* workers = nullptr;  // Django routes' worker liveness (set by gateway_server)
  worker_outbox* outbox = nullptr;     // messages to workers that batch (set by gateway_server)
  worker_door* doors = nullptr;        // worker messages, in order, on thread 0 (set by gateway_server)
  gateway_stats stats;
};

}  // namespace sb::gateway
