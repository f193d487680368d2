// channels_keys.hpp — the Redis key layout Switchboard shares with
// channels_redis, and the commands that edit it.
//
// layerd's membership mirror, its HTTP API and switchboard-cli all read and
// write the same keys a Django process using channels_redis does
// (docs/django.md describes the layout): a group is the sorted set
// `<prefix>:group:<group>` of channel names scored by join time, with a TTL
// of the group expiry. Switchboard's own keys sit beside them under the
// same prefix. Keeping the names and command shapes here means the three
// users cannot drift apart.
//
// Pure functions, no I/O; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::common {

using redis_argv = std::vector<std::string>;

class channels_keys {
 public:
  explicit channels_keys(std::string prefix = "asgi") : prefix_(std::move(prefix)) {}
  const std::string& prefix() const { return prefix_; }

  // channels_redis' group key: <prefix>:group:<group>.
  std::string group(std::string_view group) const;
  // Switchboard's pending notifications of a group: <prefix>:pending:<group>.
  std::string pending(std::string_view group) const;
  // Switchboard's per-gateway hash (conn id -> notification group):
  // <prefix>:notification-routes:<gateway>.
  std::string notification_routes(std::string_view gateway) const;

  // channels_redis' inbox key of a channel's non-local name (the part up
  // to and with '!'; a process's channels share it): <prefix><name>.
  std::string inbox(std::string_view non_local_name) const;

  // SCAN MATCH pattern for every group key, the prefix matched literally.
  std::string group_scan_pattern() const;
  // The group a key names, or nothing when it is not a group key.
  std::optional<std::string_view> group_of(std::string_view key) const;

 private:
  std::string prefix_;
};

// Seconds since the Unix epoch, as channels_redis scores members.
double unix_now();
// A score as Redis is sent it: "%.6f".
std::string score_text(double unix_seconds);
// Escapes Redis glob characters (* ? [ ] \) so SCAN matches `s` literally.
std::string glob_escape(std::string_view s);

// channels_redis' group_add: ZADD <key> <now> <channel>, then EXPIRE <key>
// <expiry> (both, in this order; run them in one MULTI where the member
// must never exist without the key's TTL).
redis_argv zadd_member(const std::string& group_key, const std::string& score, const std::string& channel);
redis_argv expire(const std::string& key, int seconds);
// channels_redis' group_discard.
redis_argv zrem_member(const std::string& group_key, const std::string& channel);
// One SCAN round over the group keys.
redis_argv scan_groups(const std::string& cursor, const std::string& pattern, int count = 1000);

}  // namespace sb::common
