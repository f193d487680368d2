// layer_server.hpp — layerd's event loop: ZeroMQ ROUTER for gateways + Redis.
//
// One thread runs zmq_poll over the ROUTER socket and the Redis fd, so
// every group's operations are handled in arrival order (ARCHITECTURE
// rule 1) without locks. Membership lives in a group_store (memory) and is
// mirrored to Redis in channels_redis' layout; a group_send becomes one
// GROUP_DELIVER per gateway that has members, encoded once; each gateway
// knows its own members, so a send costs O(gateways), not O(members).
// Gateways that stop sending heartbeats are forgotten and their members
// removed.
//
// Threading: construct anywhere; run() on one thread; request_stop() from any.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <chrono>
#include <cstdint>
#include <random>
#include <deque>
#include <set>
#include <string_view>
#include <string>
#include <unordered_map>
#include <vector>
#include <utility>

#include <zmq.hpp>

#include "common/redis_url.hpp"
#include "layerd/fernet.hpp"
#include "layerd/group_store.hpp"
#include "layerd/redis_link.hpp"
#include "layerd/redis_ring.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

struct layerd_config {
  std::string bind = "tcp://127.0.0.1:7100";
  // Redis hosts in channels_redis' order (Django's CONFIG "hosts"): group
  // keys live on H(group), inboxes on H(non-local name); see redis_ring.
  std::vector<common::redis_url> redis_hosts{common::redis_url{}};
  std::string prefix = "asgi";
  int group_expiry_s = 86400;
  int refresh_interval_s = 3600;
  int gateway_timeout_ms = 5000;
  std::string id = "layerd";
  // channels_redis settings the Django side uses (its defaults).
  int expiry_s = 60;        // message lifetime and inbox TTL
  int capacity = 100;       // messages per inbox key
  // Pending notifications: notify events sent to a "notification_*" group
  // are kept (newest pending_max, none older than pending_age_s) and sent
  // to each new member of the group first.
  int pending_max = 100;
  int pending_age_s = 86400;
  // channels_redis' channel_capacity: (glob, capacity), first match wins.
  std::vector<std::pair<std::string, int>> channel_capacity;
  // channels_redis' symmetric_encryption_keys: encrypt with the first,
  // accept any.
  std::vector<fernet::key> encryption_keys;
};

class layer_server {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t messages_in = 0;
    std::uint64_t malformed = 0;
    std::uint64_t group_sends = 0;
    std::uint64_t delivers_out = 0;
    std::uint64_t deliver_drops = 0;  // gateway unreachable or its queue full
    std::uint64_t gateways_expired = 0;
    std::uint64_t clients_seen = 0;     // client HELLOs (not gateways)
    std::uint64_t inbox_delivered = 0;   // messages from Django popped and delivered
    std::uint64_t inbox_dropped = 0;     // undecodable or untargeted inbox messages
    std::uint64_t foreign_written = 0;   // messages written to Django inboxes
    std::uint64_t foreign_full = 0;      // Django inboxes at capacity (message skipped, as channels_redis does)
    // group_send handling time (receive to the last GROUP_DELIVER queued), µs
    static constexpr std::array<double, 10> latency_bounds_us{1, 2, 5, 10, 20, 50, 100, 500, 1000, 10000};
    std::array<std::uint64_t, 11> latency_buckets{};  // last one: +Inf
    double latency_sum_us = 0;
  };

  // Binds the ROUTER socket; throws std::runtime_error if it cannot.
  explicit layer_server(layerd_config cfg);
  ~layer_server();

  void run();
  void request_stop() { stop_.store(true); wake(); }
  // From a signal handler: run on_reload on the loop thread soon.
  void request_reload() { reload_.store(true); wake(); }
  std::function<void()> on_reload;

  // Runs `fn` on the loop thread (any thread may call it). Used by the
  // HTTP API, which lives on its own thread.
  void post(std::function<void()> fn);

  // Operations for the HTTP API and tools; call only on the loop thread.
  // Results come back through `done` (also on the loop thread).
  struct api_result {
    int status = 200;    // HTTP-like: 200, 400, 404, 503
    std::string body;    // JSON
  };
  using api_done = std::function<void(api_result)>;
  void api_group_send(const std::string& group, const std::string& event, api_done done);
  void api_send(const std::string& channel, const std::string& event, api_done done);
  void api_group_add(const std::string& group, const std::string& channel, api_done done);
  void api_group_discard(const std::string& group, const std::string& channel, api_done done);
  void api_groups(api_done done);
  void api_members(const std::string& group, api_done done);
  void api_metrics(api_done done);  // Prometheus text
  const std::string& endpoint() const { return endpoint_; }
  const stats& counters() const { return stats_; }

 private:
  struct gateway_state {
    clock::time_point last_seen;
  };
  // Drops a gateway: its members leave memory and Redis.
  void forget_gateway(const std::string& gateway, const char* why);

  void wake();
  void run_posted();
  void on_router_readable();
  void handle(const std::string& peer, std::uint8_t kind, std::string_view body);
  void handle(const std::string& peer, const proto::message& m);
  void reply(const std::string& peer, const proto::message& m);
  bool send_raw(const std::string& peer, std::uint8_t kind, const std::string& body);
  void group_send(const std::string& group, const std::string& event, const std::string& type);
  void fan_out(const std::string& group, const std::string& event);
  void tick(clock::time_point now);
  void reject(const std::string& peer, std::uint64_t request, const char* code, const std::string& text);

  // Django bridge: pop the gateways' inbox keys; write group_sends to the
  // inboxes of group members that are Django consumers.
  void maybe_pop();
  void on_popped(std::size_t shard, const ::redisReply* reply);
  void foreign_send(const std::string& group, const std::string& event);
  void on_group_members(const std::string& group, std::uint64_t covers, const ::redisReply* reply);
  void on_group_size(const std::string& group, std::uint64_t covers, const ::redisReply* reply);
  void flush_foreign(const std::string& group, std::uint64_t up_to);
  void write_foreign(const std::string& group, const std::vector<std::string>& members, const std::string& event);
  bool is_ours(std::string_view channel) const;
  int capacity_for(std::string_view channel) const;

  // Pending notifications (Redis sorted set <prefix>:pending:<group>).
  static bool keeps_pending(const std::string& group);
  std::string pending_key(const std::string& group) const { return cfg_.prefix + ":pending:" + group; }
  // Keeps `member` (a pending:: tag + the event) at `score` unless it is a
  // copy of one kept already (see pending.hpp).
  void store_pending(const std::string& group, const std::string& score_text, double score_value,
                     const std::string& member, double window_s);
  // A notify Django group_sent, popped from `inbox` (one copy per gateway
  // inbox): finds the notification group of `channel` and keeps it once.
  void store_django_notify(const std::string& inbox, const std::string& score_text, const std::string& channel,
                           const std::string& event);
  // Which notification group each Switchboard socket is in, so whichever
  // layerd pops Django's copy knows the group: a Redis hash per gateway
  // (conn id -> group) on the shard of its own key, TTL group expiry.
  std::string route_key(std::string_view gateway) const {
    return std::string(cfg_.prefix).append(":notification-routes:").append(gateway);
  }
  void route_update(const std::string& group, const std::string& channel, bool add);
  void rewrite_routes(const std::string& group, const std::vector<std::string>& channels,
                      const std::vector<bool>& shards);
  void send_pending(const std::string& group, const std::string& gateway, const std::string& conn);
  // Redis mirror
  std::string group_key(const std::string& group) const { return cfg_.prefix + ":group:" + group; }
  void redis_add(const std::string& group, const std::string& channel);
  void redis_remove(const std::string& group, const std::string& channel);
  // Rewrites removals and live members of the groups on the shards marked.
  void redis_rewrite(const std::vector<bool>& shards);
  redis_link& link_for(const std::string& group) { return ring_.of(group).commands; }

  layerd_config cfg_;
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  redis_ring ring_;
  std::vector<zmq::pollitem_t> poll_items_;
  // Django members of a group, kept fresh without reading the whole member
  // list per message: each group_send asks Redis for the group's size
  // (ZCARD, pipelined, in order) and re-reads the members only when the
  // size differs from when they were last read.
  struct foreign_group {
    std::vector<std::string> members;                    // Django channels in the group
    long long known_total = -1;                          // ZCARD when `members` was read; -1: never
    bool checking = false;                               // a ZCARD (then maybe a ZRANGE) is on its way
    std::deque<std::pair<std::uint64_t, std::string>> pending;  // (seq, event) waiting for Redis
    std::uint64_t next_seq = 0;
    clock::time_point used{};
  };
  std::unordered_map<std::string, foreign_group> foreign_;
  void check_group(const std::string& group, foreign_group& f);
  void finish_check(const std::string& group, foreign_group& f, std::uint64_t covers, bool answered);
  clock::time_point next_foreign_sweep_{};
  std::mt19937_64 rng_{std::random_device{}()};
  group_store store_;
  std::unordered_map<std::string, gateway_state> gateways_;
  // Peers whose HELLO said "client" (switchboard-cli, backends): they may
  // publish, but have no sockets, inbox or members, and are forgotten
  // quietly when silent.
  std::unordered_map<std::string, clock::time_point> clients_;
  std::set<std::pair<std::string, std::string>> pending_removals_;
  bool pending_overflow_warned_ = false;
  clock::time_point next_refresh_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  int wake_fd_ = -1;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
  stats stats_;
};

}  // namespace sb::layerd
