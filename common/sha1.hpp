// SHA-1 (FIPS 180-4) over a byte string, for naming groups the way Django Channels does.
// Why our own: the only use is hashing short room names into channels_redis group names
// (hashlib.sha1(room.encode()).hexdigest()), not security, so a small dependency-free
// implementation beats linking OpenSSL into sb_common.
// Pure functions with no shared state: safe to call from any thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace sb::common {

// The 20-byte SHA-1 digest of `data`.
std::array<unsigned char, 20> sha1(std::string_view data);

// The same digest as 40 lowercase hex digits (Python's hexdigest()).
std::string sha1_hex(std::string_view data);

}  // namespace sb::common
