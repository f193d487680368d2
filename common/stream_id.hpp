// stream_id.hpp — a room history message id: a Redis Stream entry id
// `<ms>-<seq>`, parsed, printed, compared, and made monotonic.
//
// The owner of a group stamps each message with the id it then gives the
// message's stream entry (layerd/room_history.hpp), so every member sees
// the same id and ids grow in the group's send order. The clock may go
// back or stand still between two sends: next() then keeps the last ms and
// counts seq up, as Redis itself does for `XADD *`. Browsers hand ids back
// (`?since=`), so parse() is strict: two decimal numbers without sign,
// leading zeros or spaces, each fitting 64 bits.
//
// Header-only. Threading: plain values.
#pragma once

#include <charconv>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/limits.hpp"

namespace sb::common {

struct stream_id {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  auto operator<=>(const stream_id&) const = default;
  // Writes `<ms>-<seq>` to `out` (room for limits::max_history_id_bytes)
  // and returns its length.
  std::size_t write(char* out) const {
    char* p = std::to_chars(out, out + 20, ms).ptr;
    *p++ = '-';
    return static_cast<std::size_t>(std::to_chars(p, p + 20, seq).ptr - out);
  }
  std::string text() const {
    char buf[limits::max_history_id_bytes];
    return std::string(buf, write(buf));
  }
  // The id after `last` for a message sent at `now_ms`.
  static stream_id next(const stream_id& last, std::uint64_t now_ms) {
    if (now_ms > last.ms) return {now_ms, 0};
    return {last.ms, last.seq + 1};
  }
};

namespace detail {
// One decimal uint64: digits only, no leading zero unless it is "0".
inline bool parse_stream_id_part(std::string_view s, std::uint64_t& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace detail

// nullopt for anything but `<ms>-<seq>` as said above. Header-only, so
// proto/ (which links no common library) checks HISTORY_GET's since too.
inline std::optional<stream_id> parse_stream_id(std::string_view text) {
  if (text.size() > limits::max_history_id_bytes) return std::nullopt;
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  stream_id id;
  if (!detail::parse_stream_id_part(text.substr(0, dash), id.ms) ||
      !detail::parse_stream_id_part(text.substr(dash + 1), id.seq)) {
    return std::nullopt;
  }
  return id;
}

}  // namespace sb::common
