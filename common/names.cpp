// Name rules: room-name validation (Python's \w over strict UTF-8), percent-decoding of the
// URL segment, and the channels_redis group/channel name checks. Why shaped this way: every
// function is a pure check or decode returning bool/optional, so untrusted input from a URL
// never throws and both daemons share exactly one definition of a valid name.
// No shared mutable state: safe to call from any thread.
#include "common/names.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/digest.hpp"

namespace sb::common {
namespace {

// channels_redis: MAX_NAME_LENGTH = 100 and names must be strictly shorter.
constexpr std::size_t k_max_name_length = 100;
// Room names: 1..100 code points.
constexpr std::size_t k_max_room_code_points = 100;
// Hashed group suffix: the first 32 hex digits of the SHA-1 hexdigest.
constexpr std::size_t k_group_hash_digits = 32;

constexpr bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z0-9\-_.]: the character class shared by group names and the channel name's head.
constexpr bool is_name_char(char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '-' || c == '_' || c == '.';
}

// Value of one hex digit, or -1.
constexpr int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

constexpr bool is_continuation(unsigned char b) { return (b & 0xC0U) == 0x80U; }

}  // namespace

bool is_word_char(char32_t c) {
    const auto table = detail::word_table();
    // First range whose last >= c; c is a word char iff that range also starts at or before c.
    const auto it = std::lower_bound(table.begin(), table.end(), c,
                                     [](const detail::code_point_range& r, char32_t v) { return r.last < v; });
    return it != table.end() && it->first <= c;
}

std::optional<std::u32string> decode_utf8(std::string_view bytes) {
    std::u32string out;
    out.reserve(bytes.size());
    std::size_t i = 0;
    while (i < bytes.size()) {
        const auto lead = static_cast<unsigned char>(bytes[i]);
        if (lead < 0x80U) {
            out.push_back(lead);
            ++i;
            continue;
        }
        // Sequence length and the smallest code point it may encode (anything below is overlong).
        std::size_t len = 0;
        char32_t cp = 0;
        char32_t min = 0;
        if (lead >= 0xC2U && lead <= 0xDFU) {  // C0/C1 would always be overlong
            len = 2;
            cp = lead & 0x1FU;
            min = 0x80;
        } else if (lead >= 0xE0U && lead <= 0xEFU) {
            len = 3;
            cp = lead & 0x0FU;
            min = 0x800;
        } else if (lead >= 0xF0U && lead <= 0xF4U) {  // F5..FF would exceed U+10FFFF
            len = 4;
            cp = lead & 0x07U;
            min = 0x10000;
        } else {
            return std::nullopt;  // stray continuation byte or invalid lead byte
        }
        if (bytes.size() - i < len) return std::nullopt;  // truncated
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(bytes[i + k]);
            if (!is_continuation(b)) return std::nullopt;
            cp = (cp << 6) | (b & 0x3FU);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
        out.push_back(cp);
        i += len;
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (s.size() - i < 3) return std::nullopt;
        const int hi = hex_value(s[i + 1]);
        const int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>((hi << 4) | lo));
        i += 2;
    }
    return out;
}

bool is_valid_room_name(std::string_view utf8) {
    // Cheap bound first: 100 code points are at most 400 bytes.
    if (utf8.empty() || utf8.size() > 4 * k_max_room_code_points) return false;
    const auto decoded = decode_utf8(utf8);
    if (!decoded || decoded->empty() || decoded->size() > k_max_room_code_points) return false;
    return std::all_of(decoded->begin(), decoded->end(), [](char32_t c) { return is_word_char(c); });
}

bool is_valid_group_name(std::string_view name) {
    if (name.empty() || name.size() >= k_max_name_length) return false;
    return std::all_of(name.begin(), name.end(), is_name_char);
}

bool is_valid_channel_name(std::string_view name) {
    if (name.empty() || name.size() >= k_max_name_length) return false;
    // Head: [a-zA-Z\d\-_.]+ up to an optional '!'; tail after '!': [\d\w\-_.]*, which in
    // ASCII is the same class. A second '!' matches neither, so it is rejected.
    const std::size_t bang = name.find('!');
    const std::string_view head = name.substr(0, bang);
    if (head.empty() || !std::all_of(head.begin(), head.end(), is_name_char)) return false;
    if (bang == std::string_view::npos) return true;
    const std::string_view tail = name.substr(bang + 1);
    return std::all_of(tail.begin(), tail.end(), is_name_char);
}

std::string group_for(std::string_view prefix, std::string_view room) {
    std::string plain;
    plain.reserve(prefix.size() + 1 + room.size());
    plain.append(prefix).append("_").append(room);
    // is_valid_group_name only accepts ASCII name characters, so it also enforces "ASCII-only".
    if (is_valid_group_name(plain)) return plain;

    std::string hashed;
    hashed.reserve(prefix.size() + 2 + k_group_hash_digits);
    hashed.append(prefix).append("_.").append(sha1_hex(room).substr(0, k_group_hash_digits));
    return hashed;
}

std::optional<channel_parts> split_specific_channel(std::string_view channel) {
    constexpr std::string_view head = "specific.";
    if (channel.substr(0, head.size()) != head) return std::nullopt;
    const auto bang = channel.find('!');
    if (bang == std::string_view::npos || bang == head.size() || bang + 1 == channel.size()) return std::nullopt;
    return channel_parts{channel.substr(head.size(), bang - head.size()), channel.substr(bang + 1)};
}

std::string make_channel(std::string_view gateway, std::string_view conn) {
    std::string out;
    out.reserve(10 + gateway.size() + conn.size());
    out.append("specific.").append(gateway).append("!").append(conn);
    return out;
}

}  // namespace sb::common
