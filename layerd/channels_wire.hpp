// channels_wire.hpp — channels_redis' message format, both directions.
//
// A Django process using channels_redis stores each message as a member of
// a sorted set: 12 random bytes, then msgpack of the message map with a
// reserved "__asgi_channel__" field naming the target channel(s) (a string
// for send(), an array for group_send()). layerd reads these from the
// gateways' inbox keys and writes them to Django consumers' inbox keys, so
// the encoding must match byte for byte (docs/django.md, Message format;
// tests/unit/layerd/channels_wire_test.cpp holds bodies recorded from
// channels_redis). Pure functions; untrusted input returns errors.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sb::layerd::wire {

inline constexpr std::size_t prefix_bytes = 12;

// channels_redis' non-local name: up to and including the first '!', or
// the whole name when it has none.
std::string_view non_local(std::string_view channel);

// A message read from an inbox key.
struct inbound {
  std::vector<std::string> channels;  // from __asgi_channel__ (one for send, many for group_send)
  std::string event;                  // the message map without __asgi_channel__, msgpack
  bool from_group_send = false;       // __asgi_channel__ was an array (group_send), not a string (send)
};
common::result<inbound> decode_member(std::string_view member);
// The same for a body whose 12-byte prefix is already gone (and which was
// decrypted first when the Django side encrypts).
common::result<inbound> decode_body(std::string_view body);

// channels_redis' channel_capacity: glob patterns matched against the
// whole channel name with Python's fnmatch.fnmatchcase; the first match
// wins. POSIX fnmatch(3) with FNM_NOESCAPE agrees on *, ?, [...], [!...]
// and ranges ('/' and a leading '.' are ordinary, a backslash is literal, an
// unclosed '[' is literal). It differs only on patterns channels_redis
// users have no reason to write: `[^...]` negates here but is a literal
// '^' in Python, and `[[:alpha:]]`-style classes work here only.
bool glob_match(std::string_view pattern, std::string_view name);

// The msgpack body for an inbox: the event map plus "__asgi_channel__"
// appended last — an array for group_send (even of one), a string for a
// send to one process-specific channel; no field when `channels` is empty.
enum class channel_field { array, string, none };
common::result<std::string> encode_body(std::string_view event, const std::vector<std::string>& channels,
                                        channel_field field);

// 12 random bytes (distinct members for identical payloads).
std::string random_prefix(std::mt19937_64& rng);

// The Lua script with channels_redis' group_send effect: for each key, if
// it holds fewer than its capacity, add the member at `now` and refresh
// the TTL; returns how many keys were full.
extern const char* const capacity_script;

}  // namespace sb::layerd::wire
