// close_reason.hpp — why Switchboard closes a WebSocket, one close code each.
//
// Typed reasons (like nats-server's) keep logs, counters and the code a
// browser sees in agreement.
#pragma once

#include <cstdint>
#include <string_view>

namespace sb::gateway {

enum class close_reason {
  normal,           // 1000
  going_away,       // 1001: the gateway is shutting down
  unsupported_data, // 1003: binary frame on a text protocol
  frame_too_big,    // 1009: message over --max-message-size
  rate_limited,     // 1008: faster than --rate-limit/--rate-burst
  slow_consumer,    // 1008: send queue over its bounds
  internal_error,   // 1011
};

struct close_info {
  std::uint16_t code;
  std::string_view text;
};

constexpr close_info describe(close_reason r) {
  switch (r) {
    case close_reason::normal: return {1000, "normal"};
    case close_reason::going_away: return {1001, "going away"};
    case close_reason::unsupported_data: return {1003, "binary frames are not supported"};
    case close_reason::frame_too_big: return {1009, "message too big"};
    case close_reason::rate_limited: return {1008, "rate limit"};
    case close_reason::slow_consumer: return {1008, "slow consumer"};
    case close_reason::internal_error: return {1011, "internal error"};
  }
  return {1011, "internal error"};
}

}  // namespace sb::gateway
