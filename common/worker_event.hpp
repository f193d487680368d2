// worker_event.hpp — the `switchboard.event` message that carries a group
// event to a Django worker process for its sockets (docs/protocol.md,
// Part 3, Gateway → worker and Batches).
//
// Both daemons write it: a gateway for the sockets it holds, and the
// layerd that owns a group for the members whose gateway registered their
// worker (proto::worker_route), so those events skip the gateway. One
// message names at most worker_event_names() sockets: every message stays
// within the event bounds (common/limits.hpp) and the worker's batch bound.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sb::common {

// A worker reads at most this many names in one event (its batch bound).
inline constexpr std::size_t max_worker_event_names = 1000;

// {"type": "switchboard.event", "socket": S, "event": EVENT} for one
// socket, {"type": "switchboard.event", "sockets": [S, ...], "event":
// EVENT} for sockets[first, first + count) when count > 1. EVENT is the
// event's msgpack map, copied unchanged.
std::string worker_event(const std::vector<std::string>& sockets, std::size_t first, std::size_t count,
                         std::string_view event_msgpack);
// The one-socket form.
std::string worker_event(std::string_view socket, std::string_view event_msgpack);

// How many socket names one message may carry with an event of this many
// bytes: the event once, at most 104 bytes per name and 1 KiB for the rest
// within limits::max_event_bytes; at least 1, at most max_worker_event_names.
std::size_t worker_event_names(std::size_t event_bytes);

}  // namespace sb::common
