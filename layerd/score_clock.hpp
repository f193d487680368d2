// score_clock.hpp — the scores layerd gives the messages it writes into
// channels_redis inboxes: the time, as channels_redis scores them, but
// strictly increasing.
//
// channels_redis pops an inbox lowest score first, and two writes in the
// same microsecond (or a clock step back) would tie or invert, so a
// worker could pop a gateway's messages about one socket out of order
// (docs/protocol.md, Part 3: one layerd writes all of a worker's
// messages, and writes them with strictly increasing scores). Keeping the
// last score written by this layerd and giving last + 1 µs when the clock
// has not moved past it makes every key's scores increase, since scores
// are written with 6 decimals (common/channels_keys.hpp, score_text).
//
// Pure; not thread-safe (owned by the layerd loop thread).
#pragma once

#include <cstdint>
#include <string>

namespace sb::layerd {

class score_clock {
 public:
  // The score for a write made at `unix_seconds` (common::unix_now()):
  // "%.6f" text, greater than every score this clock gave before.
  std::string next(double unix_seconds);
  // The last score given, in microseconds since the epoch (0: none yet).
  std::int64_t last_us() const { return last_us_; }

 private:
  std::int64_t last_us_ = 0;
};

}  // namespace sb::layerd
