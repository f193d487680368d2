// redis_shard.hpp — which of several Redis hosts a name lives on, exactly
// as channels_redis picks it (its "consistent hash" over CONFIG hosts).
//
// Why exactly this formula: a Django process and layerd must land every
// group key and inbox key on the same server, so the shard is computed the
// way channels_redis computes it — CRC-32 (zlib/IEEE) of the UTF-8 name,
// its low 12 bits, divided by 4096/n in double precision and truncated.
// The integer form (v*n)>>12 differs from it from n = 186 on, so it is not
// used. Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb::common {

// zlib's crc32(0, data) (IEEE 802.3, reflected, as Python's binascii.crc32).
std::uint32_t crc32(std::string_view data);

// The position in a list of `hosts` Redis servers that channels_redis uses
// for `name` (a group name, or a channel's non-local name). hosts == 1 → 0.
std::size_t redis_shard(std::string_view name, std::size_t hosts);

}  // namespace sb::common
