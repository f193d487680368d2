// codec.hpp — msgpack encode/decode of proto messages.
//
// decode() is the only door for bytes from the network: it checks kind,
// structure, types and sizes and returns an error text instead of
// throwing, so garbage on the ZeroMQ socket costs one log line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "proto/messages.hpp"

namespace sb::proto {

// The msgpack body of m (frame 2); frame 1 is static_cast<uint8_t>(kind_of(m)).
std::string encode(const message& m);

// Decodes a body of the given kind byte.
common::result<message> decode(std::uint8_t kind_byte, std::string_view body);

}  // namespace sb::proto
