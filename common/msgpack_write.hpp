// msgpack_write.hpp — the two msgpack writes every encoder here needs:
// a string as msgpack str, bytes as msgpack bin (what Python reads as bytes).
//
// Header-only; no state.
#pragma once

#include <cstdint>
#include <string_view>

#include <msgpack.hpp>

namespace sb::common {

using msgpack_packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_str(msgpack_packer& pk, std::string_view s) { pk.pack(s); }
inline void pack_bin(msgpack_packer& pk, std::string_view b) {
  pk.pack_bin(static_cast<std::uint32_t>(b.size()));
  pk.pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
}

}  // namespace sb::common
