// layer_link.hpp — the gateway's ZeroMQ link to every layerd.
//
// One thread owns a DEALER per layerd (ZeroMQ sockets are single-thread
// objects); I/O threads hand it commands through a mutex-guarded queue and
// an eventfd, and it hands DELIVERs back to the hub. Each group is routed
// to one layerd by a consistent hash (common/hash_ring.hpp) over the links
// that are up, so every member sees a group's messages in one order.
//
// Liveness: HELLO/WELCOME to come up, HEARTBEAT both ways; a layerd silent
// for --layerd-timeout-ms is down and its groups move to the next one on
// the ring. Whenever ownership changes, the link sends each live layerd a
// SYNC with all of this gateway's members in the groups it now owns, so a
// restarted or newly responsible layerd knows everything at once.
//
// Threading: public methods from any thread; callbacks run on the link
// thread and must only post elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "common/hash_ring.hpp"
#include "gateway/gateway_config.hpp"
#include "proto/messages.hpp"

namespace sb::gateway {

class hub;

class layer_link {
 public:
  using clock = std::chrono::steady_clock;
  // ok=false carries a short reason ("no layerd available", "timeout", ...)
  using join_callback = std::function<void(bool ok, const std::string& why)>;

  struct stats {
    std::atomic<std::uint64_t> group_sends{0};
    std::atomic<std::uint64_t> delivers_in{0};
    std::atomic<std::uint64_t> dropped_no_layerd{0};
    std::atomic<std::uint64_t> malformed_in{0};
  };

  layer_link(const gateway_config& cfg, std::string gateway_id, hub& h);
  ~layer_link();
  layer_link(const layer_link&) = delete;
  layer_link& operator=(const layer_link&) = delete;

  void start();
  // Tells every live layerd this gateway has no members any more, then stops.
  void stop();

  void group_add(std::string group, std::string channel, join_callback cb);
  void group_discard(std::string group, std::string channel);
  void group_send(std::string group, std::string event);

  std::size_t links_up() const { return links_up_.load(std::memory_order_relaxed); }
  std::size_t links() const { return peers_.size(); }
  const stats& counters() const { return stats_; }

 private:
  struct add_cmd {
    std::string group, channel;
    join_callback cb;
  };
  struct discard_cmd {
    std::string group, channel;
  };
  struct send_cmd {
    std::string group, event;
  };
  using command = std::variant<add_cmd, discard_cmd, send_cmd>;

  struct peer {
    std::string endpoint;
    std::unique_ptr<zmq::socket_t> sock;
    bool up = false;
    clock::time_point last_heard{};
    clock::time_point next_hello{};
    std::chrono::milliseconds hello_backoff{100};
    bool version_refused = false;
    bool warned = false;  // "unreachable" logged since it was last up
    clock::time_point down_since{};
  };
  struct pending_join {
    join_callback cb;
    clock::time_point deadline;
    std::size_t peer;
  };

  void push(command c);
  void loop();
  void run_commands();
  void on_message(std::size_t p, std::uint8_t kind, std::string_view body);
  void tick(clock::time_point now);
  void set_up(std::size_t p, bool up, const char* why);
  void sync_all();
  bool send_to(std::size_t p, const proto::message& m);
  std::optional<std::size_t> owner(const std::string& group) const;
  void fail_pending(std::size_t p, const std::string& why);

  gateway_config cfg_;
  std::string gateway_id_;
  hub& hub_;
  zmq::context_t ctx_{1};
  std::vector<peer> peers_;
  std::vector<bool> alive_;
  common::hash_ring ring_;
  int wake_fd_ = -1;

  std::mutex mutex_;
  std::vector<command> queue_;  // guarded by mutex_

  // link thread only:
  std::unordered_map<std::string, std::unordered_set<std::string>> members_;  // group → channels
  std::unordered_map<std::uint64_t, pending_join> pending_;
  std::uint64_t next_request_ = 1;
  clock::time_point next_heartbeat_{};

  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> links_up_{0};
  std::thread thread_;
  stats stats_;
};

}  // namespace sb::gateway
