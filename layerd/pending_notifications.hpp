// pending_notifications.hpp — notify events kept for notification_* groups
// so a socket that joins later gets them first.
//
// Attached to membership as a group_hooks, so it follows exactly the
// notification groups (follows() is the one test of the name) and learns
// of every join, leave, send and rewrite there. Events live in Redis
// (`<prefix>:pending:<group>`, see pending.hpp for why a script keeps each
// once); a per-gateway hash (`<prefix>:notification-routes:<gateway>`,
// conn id -> group) lets whichever layerd pops Django's copy of a notify
// find the group it was sent to.
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe. The redis_commands and peers outlive it.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/channels_keys.hpp"
#include "layerd/group_hooks.hpp"
#include "layerd/options.hpp"
#include "layerd/peers.hpp"
#include "layerd/redis_commands.hpp"

namespace sb::layerd {

class pending_notifications final : public group_hooks {
 public:
  pending_notifications(const layerd_config& cfg, redis_commands& redis, peers& peers);

  bool follows(std::string_view group) const override;
  void joined(const std::string& group, const std::string& channel, join how) override;
  void left(const std::string& group, const std::string& channel) override;
  void sent(const std::string& group, const std::string& event, std::string_view type) override;
  void rewritten(const std::string& group, const std::vector<std::string>& channels,
                 const std::vector<bool>& shards) override;

  // A notify Django group_sent, popped from `inbox` (one copy per gateway
  // inbox) at `score` (Redis' text) for `channel`, a live Switchboard
  // socket: finds the socket's notification group and keeps the event once.
  void django_sent(const std::string& inbox, const std::string& score, const std::string& channel,
                   const std::string& event);

 private:
  // Keeps `member` (a pending:: tag + the event) unless a copy is kept.
  void do_store(const std::string& group, const std::string& score, double score_value, const std::string& member,
                double window_s);
  void do_send_pending(const std::string& group, const std::string& gateway, const std::string& conn);

  redis_commands& redis_;
  peers& peers_;
  common::channels_keys keys_;
  int group_expiry_s_;
  int pending_max_;
  int pending_age_s_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace sb::layerd
