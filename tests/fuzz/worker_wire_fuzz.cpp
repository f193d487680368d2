// worker_wire_fuzz.cpp — libFuzzer target for the messages of Django
// workers (common/worker_wire.hpp), as the gateway's door and layerd read
// them.
//
// Anyone who can write to a gateway's inbox in Redis reaches
// worker_wire::decode and decode_batch (the gateway) and decode_group_ops
// (a sole gateway's layerd, docs/protocol.md, "Group sends applied where
// they are popped"); each must turn every byte string into a message, a
// batch, or a refusal, never a crash, a throw, or an unbounded allocation.
// What decodes as an accept carries a RENDER, which is interned: looking
// up handlers in it must be safe too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/worker_wire.hpp"

namespace ww = sb::common::worker_wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = ww::decode(bytes, 65536);
  if (m && m.value().render) (void)m.value().render->fields_for("chat.message");
  if (auto b = ww::decode_batch(bytes); b && *b) {
    for (const auto& e : b->value().entries) (void)ww::decode(e.bytes, 65536);
  }
  if (auto ops = ww::decode_group_ops(bytes)) {
    for (const auto& op : ops->ops) (void)op.m.event_msgpack.size();
  }
  return 0;
}
