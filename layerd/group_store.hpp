// group_store.hpp — layerd's in-memory membership of the groups it owns.
//
// Memory is the source of truth for fan-out: a group_send looks up the
// group once and gets its members already bucketed by gateway, so the work
// is O(gateways), not a Redis round trip plus O(members) decoding. Redis
// is kept in step by the caller from the change lists these methods
// return (and rewritten from all_members() after Redis comes back).
//
// Threading: owned by the layerd loop thread; not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sb::layerd {

class group_store {
 public:
  // conn id → join time (unix seconds)
  using conns = std::unordered_map<std::string, double>;
  // gateway id → its conns in the group
  using group_members = std::unordered_map<std::string, conns>;
  // (group, channel) pairs, for keeping Redis in step
  using changes = std::vector<std::pair<std::string, std::string>>;

  // Returns true if the member was not there before.
  bool add(const std::string& group, const std::string& gateway, const std::string& conn, double now);
  // Returns true if the member was there.
  bool remove(const std::string& group, const std::string& gateway, const std::string& conn);

  // Makes `groups` (group → conn ids) the whole membership of `gateway`.
  // Returns what was added and what was removed.
  struct diff {
    changes added;
    changes removed;
  };
  diff replace_gateway(const std::string& gateway,
                       const std::vector<std::pair<std::string, std::vector<std::string>>>& groups, double now);

  // Forgets a gateway (it died); returns the removed (group, channel) pairs.
  changes remove_gateway(const std::string& gateway);

  // nullptr when the group has no members.
  const group_members* find(const std::string& group) const;

  // Visits every group with its member channels (for rewriting Redis).
  void for_each_group(const std::function<void(const std::string& group, std::vector<std::string>&& channels)>& fn) const;

  std::size_t group_count() const { return groups_.size(); }
  std::size_t member_count() const { return members_; }

 private:
  std::unordered_map<std::string, group_members> groups_;
  // gateway → groups it has members in (to forget a dead gateway quickly)
  std::unordered_map<std::string, std::unordered_set<std::string>> by_gateway_;
  std::size_t members_ = 0;
};

}  // namespace sb::layerd
