// membership.hpp — the groups' Switchboard members: memory for fan-out,
// mirrored to Redis in channels_redis' layout, and the group hooks.
//
// Memory (group_store) is the truth for fan-out; Redis is kept in step so
// Django sees the members (ZADD/EXPIRE on join, ZREM on leave) and is
// rewritten whole for a host that comes back or at every refresh (which
// also renews the channels_redis lease). Removals that Redis missed while
// away are remembered (bounded) and replayed first. Every change is then
// told to the attached group_hooks, the one place features hang off a
// group's life (see group_hooks.hpp).
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe. The redis_commands and hooks outlive it.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/channels_keys.hpp"
#include "layerd/group_hooks.hpp"
#include "layerd/group_store.hpp"
#include "layerd/redis_commands.hpp"

namespace sb::layerd {

class membership {
 public:
  membership(redis_commands& redis, std::string prefix, int group_expiry_s);

  void attach(group_hooks& hooks) { hooks_.push_back(&hooks); }

  // `channel` is specific.<gateway>!<conn>.
  void add(const std::string& group, const std::string& gateway, const std::string& conn, const std::string& channel,
           double now);
  void discard(const std::string& group, const std::string& gateway, const std::string& conn,
               const std::string& channel);
  // Makes `groups` (group → conn ids) the whole membership of `gateway`.
  // Members of a group in `moved` (it moved to another layerd) leave memory
  // only: the new owner keeps them in Redis.
  group_store::diff sync(const std::string& gateway,
                         const std::vector<std::pair<std::string, std::vector<std::string>>>& groups, double now,
                         const std::unordered_set<std::string>& moved = {});
  // A dead gateway: its members leave; returns how many.
  std::size_t forget_gateway(const std::string& gateway);
  // A checked group_send was fanned out: tells the hooks.
  void sent(const std::string& group, const std::string& event, std::string_view type);
  // Writes the removals Redis missed and every live member again, for the
  // groups on the shards marked.
  void rewrite(const std::vector<bool>& shards);

  // Whether the gateway's conn is a member of the group.
  bool has(const std::string& group, const std::string& gateway, const std::string& conn) const {
    const auto* g = store_.find(group);
    if (!g) return false;
    auto it = g->find(gateway);
    return it != g->end() && it->second.count(conn) != 0;
  }
  // nullptr when the group has no Switchboard member.
  const group_store::group_members* find(const std::string& group) const { return store_.find(group); }
  std::size_t group_count() const { return store_.group_count(); }
  std::size_t member_count() const { return store_.member_count(); }

 private:
  void mirror_add(const std::string& group, const std::string& channel, group_hooks::join how);
  void mirror_remove(const std::string& group, const std::string& channel);
  template <class Fn>
  void tell(std::string_view group, Fn&& fn) {
    for (auto* h : hooks_) {
      if (h->follows(group)) fn(*h);
    }
  }

  redis_commands& redis_;
  common::channels_keys keys_;
  int group_expiry_s_;
  group_store store_;
  std::vector<group_hooks*> hooks_;
  std::set<std::pair<std::string, std::string>> pending_removals_;
  bool pending_overflow_warned_ = false;
};

}  // namespace sb::layerd
