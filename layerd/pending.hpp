// pending.hpp — how layerd keeps notify events for notification_* groups
// in Redis (`<prefix>:pending:<group>`, a sorted set by time), so a client
// that connects later gets them first.
//
// Why a script and a shaped member: a notify that Django group_sends to a
// notification group is written once per gateway inbox (channels_redis
// puts one copy in each process's inbox key), and each copy may be popped
// by a different layerd; it must still be kept exactly once. Each member
// is a 12-byte tag + the event's msgpack bytes (send_pending strips the
// tag). The tag of a Django copy is 6 bytes from (score, event) and 6 from
// the inbox it came from; the add script, atomic on the group's shard,
// skips an event already kept
//   - at the same score (copies from one host share channels_redis' `now`),
//   - or within `window` seconds from ANOTHER inbox (with several Redis
//     hosts channels_redis takes a new `now` per host, so the copies of one
//     send differ by milliseconds; a genuine repeat of the same event comes
//     again from every inbox, so its copy from the first inbox is kept).
// Pure functions; safe from any thread.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sb::layerd::pending {

inline constexpr std::size_t tag_bytes = 12;

// The tag of a copy Django wrote to `inbox_key` at `score` (Redis' text).
std::string django_tag(std::string_view score, std::string_view event, std::string_view inbox_key);

// The tag of an event layerd itself keeps: random (distinct members for
// identical notifications).
std::string random_tag(std::mt19937_64& rng);

// EVAL argv that adds `tag + event` at `score` unless kept already (see
// above), then trims to the newest `max` and to scores >= `oldest`, and
// sets the key's TTL. Replies 1 when added, 0 when it was a copy.
std::vector<std::string> add_argv(const std::string& key, const std::string& score, const std::string& member,
                                  double score_value, double window_s, double oldest, int max, int ttl_s);

}  // namespace sb::layerd::pending
