// query_param.hpp — one named parameter of a request target's query
// string, and the `presence` join parameter built on it.
//
// A WebSocket URL's parameters (docs/protocol.md: token, presence) are
// read here once, by name, with how often the name came: a parameter given
// twice is refused (400) by its caller rather than guessed at.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace sb::gateway {

// The `name` parameters of the target's query: how many, and the last
// value (percent-decoded; nullopt when that fails; "" for a bare name).
struct query_param {
  std::size_t count = 0;
  std::optional<std::string> value;
};
query_param find_query_param(std::string_view target, std::string_view name);

// `?presence=1` asks for presence frames (docs/protocol.md, Presence);
// absent or 0: not. Anything else, or the name twice, is an error text for
// a 400.
common::result<bool> presence_watch(std::string_view target);

}  // namespace sb::gateway
