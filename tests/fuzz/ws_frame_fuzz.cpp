// ws_frame_fuzz.cpp — libFuzzer target for the gateway's WebSocket frame reader.
//
// The frame reader is the first code that touches bytes from the internet,
// so it is fuzzed with AddressSanitizer and UBSan: arbitrary bytes, split
// into arbitrary chunks the way TCP may deliver them, must never crash,
// read out of bounds, or produce a message over the limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/ws_frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 16;  // first byte: how TCP splits the rest
  const std::size_t limit = 512;
  sb::gateway::ws::reader r(limit);
  std::string pending;
  for (std::size_t off = 1; off < size && !r.failed(); off += chunk) {
    pending.append(reinterpret_cast<const char*>(data + off), std::min(chunk, size - off));
    const auto used = r.consume(reinterpret_cast<unsigned char*>(pending.data()), pending.size(),
                                [&](const sb::gateway::ws::event& e) {
                                  if ((e.kind == e.text || e.kind == e.binary) && e.payload.size() > limit) std::abort();
                                  if (e.kind == e.text) {
                                    sb::gateway::ws::utf8_validator v;
                                    auto p = reinterpret_cast<const unsigned char*>(e.payload.data());
                                    if (!v.feed(p, e.payload.size()) || !v.complete()) std::abort();
                                  }
                                });
    if (used > pending.size()) std::abort();
    pending.erase(0, used);
  }
  return 0;
}
