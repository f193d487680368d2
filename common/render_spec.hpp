// render_spec.hpp — a Django socket's RENDER: which events the gateway
// renders itself instead of asking the worker (docs/protocol.md, Part 3,
// Fast path).
//
// RENDER comes with the worker's websocket.accept: a map from a handler
// name to the fields that handler forwards. Thousands of sockets of one
// consumer class share one RENDER, so specs are interned: equal specs are
// one shared, immutable object, and a delivery renders once per distinct
// spec, whatever the number of members (docs/architecture.md, rule 5).
//
// Both daemons use it: a gateway renders for its sockets, and a layerd that
// writes a group event to a worker itself skips the sockets whose gateway
// renders it (docs/protocol.md, Part 3, Fast path), by the same rule.
//
// Threading: a render_spec is immutable, shared between threads; intern()
// may be called from any thread (a mutex, taken once per accept).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include "common/result.hpp"

namespace sb::common {

class render_spec {
 public:
  // Bounds (docs/protocol.md, Part 3, Fast path).
  static constexpr std::size_t max_handlers = 64;
  static constexpr std::size_t max_fields = 16;
  static constexpr std::size_t max_name = 100;

  // The handler's fields when `event_type` (with '.' as '_', as Channels
  // names handlers) is one of this spec's handlers, else nullptr.
  const std::vector<std::string>* fields_for(std::string_view event_type) const;
  // Whether a gateway renders `msgpack_event`, whose type is `event_type`,
  // for sockets with this spec: a handler for the type and every one of its
  // fields in the event (gateway/event_delivery.cpp's rule; a layerd that
  // writes events to workers itself skips exactly these). Linear in the
  // event's size; false for an event check_event refuses.
  bool renders(std::string_view msgpack_event, std::string_view event_type) const;
  bool empty() const { return handlers_.empty(); }
  // The spec as a RENDER map again (msgpack, handlers in name order): what
  // a gateway tells layerd with a member's worker (proto::worker_route).
  const std::string& msgpack_bytes() const { return bytes_; }
  std::size_t size() const { return handlers_.size(); }

  // Checks a RENDER (a msgpack map of str → array of str, within the
  // bounds above) and returns the interned spec; nil means "none" (the
  // empty spec: every event goes to the worker).
  static result<std::shared_ptr<const render_spec>> from_msgpack(const msgpack::object& render);
  // The one spec with these handlers (equal specs share one object).
  static std::shared_ptr<const render_spec> intern(std::vector<std::pair<std::string, std::vector<std::string>>> handlers);
  // How many distinct specs are interned now (for tests).
  static std::size_t interned_count();

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> handlers_;  // sorted by handler name
  std::string bytes_;
};

}  // namespace sb::common
