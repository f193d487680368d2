// sentinel_master.hpp — whether a sentinel's description of a master names
// one to use, and where.
//
// layerd (layerd/sentinel_resolver.hpp) and switchboard-cli both ask
// sentinels `SENTINEL MASTER <name>` and must pick the master as
// channels_redis' Sentinel pool does (docs/django.md, "Redis Sentinel"):
// the reply's flags must say "master" and neither "s_down" nor "o_down",
// else that sentinel's answer is skipped for the next sentinel's. One
// judge, so both programs agree.
//
// Pure; any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/redis_url.hpp"

namespace sb::common {

// SENTINEL MASTER's reply is a flat list of field, value (a few dozen).
inline constexpr std::size_t max_sentinel_reply_fields = 256;

// The reply's field/value pairs; nothing when no usable master is named
// (down, not a master, no ip, bad port).
std::optional<redis_endpoint> usable_sentinel_master(
    const std::vector<std::pair<std::string_view, std::string_view>>& fields);

}  // namespace sb::common
