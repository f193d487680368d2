// worker_wire_fuzz.cpp — libFuzzer target for the gateway's door for Django
// workers' messages (common/worker_wire.hpp).
//
// Anyone who can write to a gateway's inbox in Redis reaches
// worker_wire::decode; it must turn every byte string into a message or an
// error text, never a crash, a throw, or an unbounded allocation. What
// decodes as an accept carries a RENDER, which is interned: looking up
// handlers in it must be safe too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/worker_wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = sb::common::worker_wire::decode(std::string_view(reinterpret_cast<const char*>(data), size), 65536);
  if (m && m.value().render) (void)m.value().render->fields_for("chat.message");
  return 0;
}
