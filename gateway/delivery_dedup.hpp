// delivery_dedup.hpp — drops a GROUP_DELIVER this gateway has already
// delivered, by (origin gateway, group, origin's send id).
//
// Why: after a layerd failover the sending gateway re-sends every
// group_send the dead layerd had not acknowledged, through the group's new
// owner (docs/protocol.md, "Acknowledged group_sends"); some of them were
// already fanned out before the layerd died. Within one group and one
// origin, sends arrive in id order through one owner, so a high-water mark
// per (origin, group) would do; a 64-wide window below it also takes back a
// send that arrives a little out of order when a group moves back to a
// returning layerd. Memory is bounded: at most `max_keys` entries, each
// forgotten after `idle` without traffic; past the cap new keys are not
// tracked (their deliveries pass, counted as untracked).
//
// Threading: hub thread 0 only (the layer link's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sb::gateway {

class delivery_dedup {
 public:
  using clock = std::chrono::steady_clock;

  delivery_dedup(std::size_t max_keys, clock::duration idle) : max_keys_(max_keys), idle_(idle) {}

  // True when (origin, group, id) is new: deliver it. False: a duplicate
  // (or older than the window), drop it.
  bool admit(std::string_view origin, std::string_view group, std::uint64_t id, clock::time_point now);
  // Forgets entries idle longer than `idle`.
  void expire(clock::time_point now);

  std::size_t size() const { return seen_.size(); }
  std::uint64_t untracked() const { return untracked_; }

  static constexpr std::uint64_t window = 64;

 private:
  struct entry {
    std::uint64_t high = 0;  // highest id delivered
    std::uint64_t bits = 0;  // bit i: id high - i delivered
    clock::time_point last{};
  };
  std::size_t max_keys_;
  clock::duration idle_;
  std::unordered_map<std::string, entry> seen_;
  std::uint64_t untracked_ = 0;
};

}  // namespace sb::gateway
