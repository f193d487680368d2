// server_context.hpp — what every session needs to reach: config, hub, layer link.
//
// Built once by gateway_server and outlives every session; the members it
// points to are thread-safe where sessions use them (hub::deliver and the
// link's public methods) or read-only (config).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "gateway/gateway_config.hpp"
#include "gateway/origin_policy.hpp"
#include "gateway/tls_context.hpp"

namespace sb::gateway {

class hub;
class layer_link;

struct gateway_stats {
  std::atomic<std::uint64_t> handshakes{0};
  std::atomic<std::uint64_t> refused_not_found{0};
  std::atomic<std::uint64_t> refused_unavailable{0};
  std::atomic<std::uint64_t> refused_bad_handshake{0};
  std::atomic<std::uint64_t> refused_origin{0};
  std::atomic<std::uint64_t> bad_frames{0};      // bad JSON / bad message (error frames sent)
  std::atomic<std::uint64_t> closed_binary{0};
  std::atomic<std::uint64_t> closed_too_big{0};
  std::atomic<std::uint64_t> closed_rate_limited{0};
  std::atomic<std::uint64_t> closed_slow_consumer{0};
  std::atomic<std::uint64_t> closed_ping_timeout{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> socket_writes{0};  // write system calls (or TLS writes) that sent frames
  std::atomic<std::uint64_t> closed_going_away{0};
  std::atomic<std::uint64_t> tls_handshakes{0};
  std::atomic<std::uint64_t> tls_failures{0};     // TLS handshakes that failed
  std::atomic<std::uint64_t> tls_plain_http{0};   // plain HTTP sent to the TLS port
};

struct server_context {
  server_context(const gateway_config& c, hub& h, layer_link& l, std::string id)
      : cfg(c), hub_ref(h), link(l), gateway_id(std::move(id)), origins(c.allowed_origins) {}

  const gateway_config& cfg;
  hub& hub_ref;
  layer_link& link;
  std::string gateway_id;  // run id: "<--id>.<16 hex>"
  origin_policy origins;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> draining{false};  // SIGTERM: /healthz says 503, clients are asked to go
  tls_holder tls;                     // empty unless --tls-cert/--tls-key
  gateway_stats stats;
};

}  // namespace sb::gateway
