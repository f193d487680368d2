// django_bridge.hpp — layerd's side of channels_redis: messages Django
// sends to Switchboard sockets come in, group_sends go out to Django's.
//
// In: one BZPOPMIN per Redis host over every live gateway's inbox key
// (`<prefix>specific.<gateway>!`), decoded (and decrypted) like
// channels_redis, delivered to the gateways as DELIVERs. Out: a group_send
// is written to the inbox of each Django consumer in the group, as
// channels_redis' group_send does (purge, then one capacity-checking EVAL
// per host). Reading the group's Django members per send would cost a
// ZRANGE each, so each send asks only ZCARD, one check in flight per group
// (sends arriving meanwhile wait for the next), and the members are read
// again only when the count changed.
//
// Also out: a send() to one channel outside Switchboard (a Django worker
// channel, a Django consumer's process-local channel) is written to that
// channel's inbox as channels_redis' send() does, with the same capacity,
// expiry and encryption as the group_send writes, and its outcome is
// reported to the sender (docs/django.md, Sending to Django channels).
// Every write's score is later than the one before (score_clock), so
// messages land in an inbox in the order layerd wrote them.
//
// Degraded states, each counted on its own: a group's backlog of sends
// waiting for Redis is full (the oldest is dropped), or a Django inbox is
// at capacity (the message is skipped for it, as channels_redis does; a
// direct send is refused with channel_full instead).
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe. The redis_commands, peers and pending_notifications outlive it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/channels_keys.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/options.hpp"
#include "layerd/peers.hpp"
#include "layerd/pending_notifications.hpp"
#include "layerd/redis_commands.hpp"
#include "layerd/score_clock.hpp"

namespace sb::layerd {

// Whether the process part of a `specific.<process>!...` channel has the
// shape of a Switchboard run id (`<id>.<16 lowercase hex digits>`, what
// gateways and switchboard-cli make) rather than of a channels_redis
// process (uuid4 hex, no '.'). A send to such a channel whose gateway is not
// live has no reader: nothing polls a dead gateway's inbox.
bool is_switchboard_process_id(std::string_view process);

class django_bridge {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t inbox_delivered = 0;  // messages from Django popped and delivered
    std::uint64_t inbox_dropped = 0;    // undecodable or untargeted inbox messages
    std::uint64_t written = 0;          // messages written to Django inboxes
    std::uint64_t inbox_full = 0;       // Django inboxes at capacity (group_send: skipped; send: channel_full)
    std::uint64_t backlog_dropped = 0;  // sends dropped from a group's full backlog while Redis was slow
    std::uint64_t copies = 0;           // extra copies of every-host sends written (a connect on each host)
  };

  django_bridge(const layerd_config& cfg, redis_commands& redis, peers& peers, pending_notifications& pending);

  // Starts a BZPOPMIN on every host that has none in flight (when there is
  // a gateway to pop for).
  void do_pop();
  void on_popped(std::size_t shard, const ::redisReply* reply);

  // A group_send: write it to the group's Django members.
  void send(const std::string& group, const std::string& event);
  // A send() to one channel outside Switchboard: written to its inbox as
  // channels_redis' send() does. `done` runs once, on the loop thread
  // (synchronously when Redis is out of reach or too many sends wait).
  // every_host (SEND's send_every_host flag): a plain channel is written on
  // every host that is up, one copy each, and the outcome is `written` when
  // at least one copy was (else `full` when a host was at capacity, else
  // redis_unavailable); a process-local channel ignores it.
  enum class direct_outcome { written, full, redis_unavailable, too_many_waiting };
  using direct_done = std::function<void(direct_outcome)>;
  void send_to_channel(const std::string& channel, const std::string& event, direct_done done,
                       bool every_host = false);

  // Set before use: each message popped from a gateway's inbox goes here
  // first, with the conns it is for on that gateway (`ctl` for the control
  // channel: a worker's switchboard.batch or heartbeat); true: it was
  // DELIVERed there (router::on_popped), else it is DELIVERed as it is.
  using popped_fn =
      std::function<bool(const std::string& gateway, const std::vector<std::string>& conns, const std::string& event)>;
  void on_popped(popped_fn f) { popped_ = std::move(f); }

  // The group's Django membership changed behind our back (HTTP API): read
  // it again on the next send.
  void members_changed(const std::string& group);
  // Forgets idle groups' member lists now and then.
  void tick(clock::time_point now);

  const stats& counters() const { return stats_; }

 private:
  struct group_state {
    std::size_t shard = 0;             // the Redis host of the group key
    std::vector<std::string> members;  // Django channels in the group
    long long known_total = -1;        // ZCARD when `members` was read; -1: never
    bool checking = false;             // a ZCARD (then maybe a ZRANGE) is on its way
    std::deque<std::pair<std::uint64_t, std::string>> waiting;  // (seq, event) waiting for Redis
    std::uint64_t next_seq = 0;
    clock::time_point used{};
  };

  void do_check(const std::string& group, group_state& g);
  void on_group_size(const std::string& group, std::uint64_t covers, const ::redisReply* reply);
  void on_group_members(const std::string& group, std::uint64_t covers, const ::redisReply* reply);
  void finish_check(const std::string& group, group_state& g, std::uint64_t covers, bool answered);
  void do_write(const std::string& group, const std::vector<std::string>& members, const std::string& event);
  void deliver_popped(const std::vector<std::string>& channels, const std::string& event);
  int capacity_for(std::string_view channel) const;
  // The inbox member for `event`: 12 random bytes, then the body (with
  // __asgi_channel__ as `field` says), encrypted when keys are configured.
  std::string stored_member(const std::string& event, const std::vector<std::string>& channels,
                            wire::channel_field field);
  // channels_redis' purge of expired messages before each write.
  void purge(std::size_t shard, const std::string& key, double now);
  // One capacity-checked write of `member` to `channel`'s inbox on `shard`.
  void write_direct(std::size_t shard, const std::string& channel, const std::string& member, direct_done done);

  const layerd_config& cfg_;
  redis_commands& redis_;
  peers& peers_;
  pending_notifications& pending_;
  common::channels_keys keys_;
  std::vector<bool> pop_in_flight_;
  popped_fn popped_;
  std::unordered_map<std::string, group_state> groups_;
  clock::time_point next_sweep_{};
  std::mt19937_64 rng_{std::random_device{}()};
  // The next host for a send to a plain channel, one turn per channel
  // (slot = crc32(channel) % size: bounded, whatever names senders use),
  // so a route's connects follow its reader round the hosts
  // (docs/django.md, Several Redis hosts, Plain channels).
  std::array<std::size_t, 256> next_plain_shard_{};
  std::size_t direct_in_flight_ = 0;  // direct sends waiting for Redis (bounded)
  // Every inbox write's score, strictly increasing, so a worker pops one
  // gateway's messages in the order layerd wrote them (docs/protocol.md, Part 3).
  score_clock scores_;
  stats stats_;
};

}  // namespace sb::layerd
