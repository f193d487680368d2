// Name rules shared by the gateway and layerd: which room names a browser may use, and
// which group/channel names channels_redis accepts. Why here: both daemons and the
// Python/Django side must agree byte-for-byte on these names, so the rules live in one
// place and mirror Python's own behaviour (re's \w, hashlib.sha1) rather than an
// approximation. Pure functions over immutable data: safe to call from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sb::common {

// Python 3 `re` \w for str patterns: str.isalnum() or '_' (Unicode categories L*, Nd/Nl/No and chars with a numeric value).
bool is_word_char(char32_t c);

// Decode strict UTF-8 (reject overlongs, surrogates, > U+10FFFF, truncated). nullopt on error.
std::optional<std::u32string> decode_utf8(std::string_view bytes);

// Percent-decode a URL path segment (%XX, either hex case). nullopt on a bad escape ("%", "%G1", "%4"). '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view s);

// Room names: valid UTF-8, 1..100 code points, every code point is_word_char. Input is already percent-decoded.
bool is_valid_room_name(std::string_view utf8);

// channels_redis group name rule: ^[a-zA-Z0-9\-_.]+$ and length < 100.
bool is_valid_group_name(std::string_view name);

// channels_redis channel name rule: ^[a-zA-Z\d\-_.]+(\![\d\w\-_.]*)?$ (ASCII only for \w: [A-Za-z0-9_]) and length < 100.
bool is_valid_channel_name(std::string_view name);

// Group for a consumer prefix ("chat") and a valid room name: prefix + "_" + room when that is ASCII-only and a valid
// group name (length < 100); otherwise prefix + "_." + first 32 lowercase hex digits of SHA-1(utf8 room).
// Python equivalent: f"{prefix}_." + hashlib.sha1(room.encode()).hexdigest()[:32]
std::string group_for(std::string_view prefix, std::string_view room);

// A Switchboard connection's channel is "specific.<gateway run id>!<conn id>"
// (channels_redis' process-local form). Splits it; nullopt for any other form.
struct channel_parts {
    std::string_view gateway;
    std::string_view conn;
};
std::optional<channel_parts> split_specific_channel(std::string_view channel);
std::string make_channel(std::string_view gateway, std::string_view conn);
// The conn id of a gateway's control channel `specific.<gateway>!ctl`
// (docs/protocol.md, Part 3, Names): never a socket's (those are hex).
inline constexpr std::string_view control_conn = "ctl";

namespace detail {

// An inclusive range of code points.
struct code_point_range {
    char32_t first;
    char32_t last;
};

// The generated \w table (common/unicode_word_table.cpp): sorted, merged, disjoint ranges.
std::span<const code_point_range> word_table() noexcept;

}  // namespace detail

}  // namespace sb::common
