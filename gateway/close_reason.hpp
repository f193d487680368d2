// close_reason.hpp — why Switchboard closes a WebSocket: code, text, counter.
//
// Typed reasons (like nats-server's) are the only way a session closes
// (websocket_session::close), so the code a browser sees, the log line and
// the per-reason counter on /metrics (switchboard_gateway_closes_total,
// label `metric`) always agree. Two causes carry more than the table: the
// peer's own close code is echoed (RFC 6455 5.5.1), and the frame layer's
// verdicts keep its reason text (gateway/ws_frame.hpp); close_cause holds
// both.
//
// Pure constexpr tables; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb::gateway {

enum class close_reason : std::uint8_t {
  peer_closed,       // the peer's close frame: answered with its code (1000 when it gave none)
  going_away,        // 1001: the gateway is draining or shutting down
  protocol_error,    // 1002: a frame the RFC forbids
  unsupported_data,  // 1003: binary frame on a text protocol
  invalid_payload,   // 1007: text or close reason that is not UTF-8
  rate_limited,      // 1008: faster than --rate-limit/--rate-burst
  slow_consumer,     // 1008: send queue over its bounds
  frame_too_big,     // 1009: message over --max-message-size
  app_closed,        // a Django worker's websocket.close: its code (docs/protocol.md, Part 3)
  out_of_order,      // 1011: a Django worker's messages did not arrive in seq order in time
  worker_lost,       // 1012: the socket's Django worker process fell silent
  worker_unavailable,  // 1013: a message for the socket's worker could not be handed on
  ping_timeout,      // no pong in time: the connection is cut, no close frame (keep it last)
};
inline constexpr std::size_t close_reason_count = static_cast<std::size_t>(close_reason::ping_timeout) + 1;

struct close_info {
  std::uint16_t code;       // on the wire; 0: no close frame, the socket is cut
  std::string_view text;    // the close frame's reason
  std::string_view metric;  // the closes_total label
};

constexpr close_info describe(close_reason r) {
  switch (r) {
    case close_reason::peer_closed: return {1000, "", "peer_closed"};
    case close_reason::going_away: return {1001, "going away", "going_away"};
    case close_reason::protocol_error: return {1002, "protocol error", "protocol_error"};
    case close_reason::unsupported_data: return {1003, "binary frames are not supported", "binary"};
    case close_reason::invalid_payload: return {1007, "invalid UTF-8", "invalid_payload"};
    case close_reason::rate_limited: return {1008, "rate limit", "rate_limited"};
    case close_reason::slow_consumer: return {1008, "slow consumer", "slow_consumer"};
    case close_reason::frame_too_big: return {1009, "message too big", "too_big"};
    case close_reason::app_closed: return {1000, "", "app_closed"};
    case close_reason::out_of_order: return {1011, "worker messages out of order", "out_of_order"};
    case close_reason::worker_lost: return {1012, "worker lost", "worker_lost"};
    case close_reason::worker_unavailable: return {1013, "try again later", "worker_unavailable"};
    case close_reason::ping_timeout: return {0, "no pong", "ping_timeout"};
  }
  return {1002, "protocol error", "protocol_error"};
}

// Every reason, in counter order.
constexpr std::array<close_reason, close_reason_count> all_close_reasons() {
  std::array<close_reason, close_reason_count> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<close_reason>(i);
  return out;
}

// One close as it goes out: the reason (for the counter) and what the
// close frame says.
struct close_cause {
  close_reason reason;
  std::uint16_t code;
  std::string_view text;

  constexpr close_cause(close_reason r) : reason(r), code(describe(r).code), text(describe(r).text) {}  // NOLINT
  constexpr close_cause(close_reason r, std::uint16_t c, std::string_view t) : reason(r), code(c), text(t) {}
};

// The answer to a peer's close frame: its code back, 1000 for none (1005).
constexpr close_cause answer_to_peer(std::uint16_t peer_code) {
  return {close_reason::peer_closed, peer_code == 1005 ? std::uint16_t{1000} : peer_code, ""};
}

// The frame layer's verdict (its close code and reason text) as a cause.
constexpr close_cause frame_error(std::uint16_t code, std::string_view why) {
  const close_reason r = code == 1009   ? close_reason::frame_too_big
                         : code == 1007 ? close_reason::invalid_payload
                                        : close_reason::protocol_error;
  return {r, code, why};
}

}  // namespace sb::gateway
