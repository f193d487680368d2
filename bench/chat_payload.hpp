// chat_payload.hpp — what the bench puts inside {"message": "<payload>"}.
//
// The payload is `sb1:<step>:<slot>:<seq>:<sender>:<sent_ns>` plus optional
// '.' padding: the load step it belongs to (late messages from an earlier
// step are told apart), the sender's slot in its room (receivers keep one
// last-seen sequence number per slot to check per-sender FIFO), the
// sender's sequence number, its global connection id, and the send time on
// CLOCK_MONOTONIC (one clock for every process on the machine, so a receiver
// in another worker computes latency directly). Plain digits and colons: no
// JSON escaping is ever needed, so encode and parse are a few to_chars /
// from_chars calls with no allocation. Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb::bench {

struct chat_payload {
  std::uint32_t step = 0;
  std::uint32_t slot = 0;
  std::uint32_t seq = 0;
  std::uint64_t sender = 0;
  std::uint64_t sent_ns = 0;
};

// Room for the JSON text without padding.
inline constexpr std::size_t max_chat_text = 128;

// Writes `{"message":"<payload>"}` into out (out_size >= max_chat_text + pad);
// returns the length.
std::size_t encode_chat_text(const chat_payload& p, std::size_t pad, char* out, std::size_t out_size);

enum class chat_parse { ours, not_ours, error_frame };
// Reads a server text frame; `ours` fills p.
chat_parse parse_chat_text(std::string_view text, chat_payload& p);

std::uint64_t monotonic_ns();

}  // namespace sb::bench
