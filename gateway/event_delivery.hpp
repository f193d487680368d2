// event_delivery.hpp — one event delivered to the Django sockets on one
// I/O thread (docs/protocol.md, Part 3, Fast path).
//
// A group_send reaches a thread once; each Django member either gets a
// frame the gateway renders from its RENDER, or the event goes to its
// worker. The frame depends only on the event and the (interned) RENDER
// spec, so it is rendered once per distinct spec and shared by every
// member with that spec (docs/architecture.md, rule 5): the per-member
// cost is a short lookup here.
//
// Members whose event goes to their worker are collected per worker and
// sent as one message naming them all (forward_to).
//
// Threading: built and used on one I/O thread, within one delivery.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/render_spec.hpp"

namespace sb::gateway {

struct event_delivery {
  std::shared_ptr<const std::string> event;  // msgpack, as it came
  std::optional<std::string> type;           // read on first use ("" when unreadable)
  // Per spec seen in this delivery: the frame, or nullptr (the worker handles it).
  std::vector<std::pair<const common::render_spec*, std::shared_ptr<const std::string>>> frames;

  // Members whose worker takes `sockets` events and runs the handler: per
  // worker W, its sockets S, sent as one switchboard.event per W when the
  // walk ends (docs/protocol.md, Part 3, Batches), not one per member.
  std::vector<std::pair<std::string, std::vector<std::string>>> forward;
  // Members that got a rendered frame: added to the fast-path counter once
  // per delivery (django_consumer::finish_delivery), not once per member,
  // so threads do not contend for the counter's cache line per member.
  std::uint64_t rendered = 0;

  // The built-in consumers' frame (consumer::render), for sockets an
  // auth=django gate handed to a built-in consumer; rendered on first use.
  std::shared_ptr<const std::string> builtin;
  bool builtin_rendered = false;
  // The members whose event the group's owner already wrote to their
  // worker (GROUP_DELIVER's forwarded, sorted conn ids; may be null): they
  // get neither a frame nor a forward here (layerd/worker_members.hpp).
  std::shared_ptr<const std::vector<std::uint64_t>> by_layerd;
  // Such members met in this delivery, counted once per delivery.
  std::uint64_t skipped = 0;

  explicit event_delivery(std::shared_ptr<const std::string> e,
                          std::shared_ptr<const std::vector<std::uint64_t>> forwarded = nullptr)
      : event(std::move(e)), by_layerd(std::move(forwarded)) {}
  // Whether layerd wrote this event to `conn`'s worker itself.
  bool forwarded_by_layerd(std::uint64_t conn) const;
  std::shared_ptr<const std::string> builtin_frame();
  void forward_to(const std::string& worker, const std::string& socket);
  // The frame for members with `spec`, or nullptr when the event is not
  // rendered for them (no handler, a field missing).
  std::shared_ptr<const std::string> frame_for(const common::render_spec& spec);
};

}  // namespace sb::gateway
