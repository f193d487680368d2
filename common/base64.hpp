// base64.hpp — base64 (RFC 4648) in both alphabets, with '=' padding.
//
// The WebSocket handshake needs the standard alphabet
// (Sec-WebSocket-Key/Accept); Fernet tokens (channels_redis encryption)
// use the URL-safe one. Decoding is strict: canonical padding, no other
// characters. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

namespace sb::common {

enum class base64_alphabet { standard, url };

std::string base64_encode(std::string_view bytes, base64_alphabet a = base64_alphabet::standard);
// False when `text` is not canonical base64 in that alphabet.
bool base64_decode(std::string_view text, std::string& out, base64_alphabet a = base64_alphabet::standard);

}  // namespace sb::common
