// membership.cpp — see membership.hpp.
#include "layerd/membership.hpp"

#include <algorithm>

#include "common/limits.hpp"
#include "common/logging.hpp"

namespace sb::layerd {

namespace {
// Redis commands carry at most this many members each, so one huge group
// does not become one huge command.
constexpr std::size_t redis_batch = 1000;
}  // namespace

membership::membership(redis_commands& redis, std::string prefix, int group_expiry_s)
    : redis_(redis), keys_(std::move(prefix)), group_expiry_s_(group_expiry_s) {}

void membership::add(const std::string& group, const std::string& gateway, const std::string& conn,
                     const std::string& channel, double now) {
  store_.add(group, gateway, conn, now);
  mirror_add(group, channel, group_hooks::join::add);
}

void membership::discard(const std::string& group, const std::string& gateway, const std::string& conn,
                         const std::string& channel) {
  if (store_.remove(group, gateway, conn)) mirror_remove(group, channel);
}

group_store::diff membership::sync(const std::string& gateway,
                                   const std::vector<std::pair<std::string, std::vector<std::string>>>& groups,
                                   double now, const std::unordered_set<std::string>& moved) {
  auto diff = store_.replace_gateway(gateway, groups, now);
  for (const auto& [g, c] : diff.removed) {
    if (moved.count(g)) {
      // Its new owner writes this member to Redis now; a removal from here
      // could land after that write and erase it (docs/protocol.md, SYNC).
      tell(g, [&](group_hooks& h) { h.moved_away(g, c); });
    } else {
      mirror_remove(g, c);
    }
  }
  for (const auto& [g, c] : diff.added) mirror_add(g, c, group_hooks::join::sync);
  return diff;
}

std::size_t membership::forget_gateway(const std::string& gateway) {
  const auto removed = store_.remove_gateway(gateway);
  for (const auto& [g, c] : removed) mirror_remove(g, c);
  return removed.size();
}

void membership::sent(const std::string& group, const std::string& event, std::string_view type) {
  tell(group, [&](group_hooks& h) { h.sent(group, event, type); });
}

void membership::mirror_add(const std::string& group, const std::string& channel, group_hooks::join how) {
  pending_removals_.erase({group, channel});
  const std::string key = keys_.group(group);
  const std::size_t shard = redis_.index_of(group);
  // When Redis is away the member is written on reconnect (rewrite()).
  if (redis_.command(shard, common::zadd_member(key, common::score_text(common::unix_now()), channel))) {
    redis_.command(shard, common::expire(key, group_expiry_s_));
  }
  tell(group, [&](group_hooks& h) { h.joined(group, channel, how); });
}

void membership::mirror_remove(const std::string& group, const std::string& channel) {
  if (!redis_.command_for(group, common::zrem_member(keys_.group(group), channel))) {
    if (pending_removals_.size() < common::limits::max_pending_redis_removals) {
      pending_removals_.emplace(group, channel);
    } else if (!pending_overflow_warned_) {
      pending_overflow_warned_ = true;
      common::log("redis")->warn("pending removals full limit={} reason=\"redis away too long; stale members stay "
                                 "until group expiry\"",
                                 common::limits::max_pending_redis_removals);
    }
  }
  tell(group, [&](group_hooks& h) { h.left(group, channel); });
}

void membership::rewrite(const std::vector<bool>& shards) {
  // Removals that happened while a shard was away, then every live member
  // of its groups with a fresh score (which also renews its channels_redis
  // lease). Groups on other shards are left alone.
  if (std::find(shards.begin(), shards.end(), true) == shards.end()) return;
  auto on_shard = [&](const std::string& group) { return shards[redis_.index_of(group)]; };
  std::size_t removals = 0, groups = 0, members = 0;
  for (auto it = pending_removals_.begin(); it != pending_removals_.end();) {
    if (!on_shard(it->first)) {
      ++it;
      continue;
    }
    redis_.command_for(it->first, common::zrem_member(keys_.group(it->first), it->second));
    ++removals;
    it = pending_removals_.erase(it);
  }
  if (pending_removals_.empty()) pending_overflow_warned_ = false;
  const std::string now = common::score_text(common::unix_now());
  store_.for_each_group([&](const std::string& group, std::vector<std::string>&& channels) {
    tell(group, [&](group_hooks& h) { h.rewritten(group, channels, shards); });
    if (!on_shard(group)) return;
    const std::size_t shard = redis_.index_of(group);
    const std::string key = keys_.group(group);
    for (std::size_t i = 0; i < channels.size(); i += redis_batch) {
      redis_commands::argv argv{"ZADD", key};
      for (std::size_t j = i; j < std::min(channels.size(), i + redis_batch); ++j) {
        argv.push_back(now);
        argv.push_back(std::move(channels[j]));
      }
      redis_.command(shard, argv);
    }
    redis_.command(shard, common::expire(key, group_expiry_s_));
    ++groups;
    members += channels.size();
  });
  std::string which;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (shards[i]) which.append(which.empty() ? "" : ",").append(std::to_string(i));
  }
  common::log("redis")->info("redis membership written shards={} groups={} members={} removals={}", which, groups,
                             members, removals);
}

}  // namespace sb::layerd
