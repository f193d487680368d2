// proto_decode_fuzz.cpp — libFuzzer target for layerd's ZeroMQ message decoder.
//
// Anything that can reach layerd's ROUTER socket goes through proto::decode
// first; it must turn every byte string into a message or an error text,
// never a crash, a throw, or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto m = sb::proto::decode(data[0] % 18, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (m) (void)sb::proto::encode(m.value());  // whatever decodes must encode again
  return 0;
}
