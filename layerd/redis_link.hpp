// redis_link.hpp — one asynchronous hiredis connection driven by layerd's poll loop.
//
// layerd is a single-threaded zmq_poll loop (ZeroMQ socket + this fd), so
// Redis I/O never blocks it (docs/architecture.md, "threads"): hiredis' async API is
// given a tiny event adapter that records which directions it wants, and
// the loop calls on_ready() when the fd is ready. A lost connection is
// retried with exponential backoff (100 ms … 5 s); `on_connected` lets the
// owner rewrite what Redis missed.
//
// A link of a Sentinel shard follows the master instead of a fixed
// address (follow_master): it connects where the shard's
// sentinel_resolver says the master is, counts as connected only once ROLE
// answers "master" (within role_timeout), and hands the doubt back (lost
// connection, READONLY or LOADING reply, ROLE not master or not answered)
// so the sentinels are asked again. A plain
// host never does any of that.
//
// Threading: everything runs on the layerd loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_url.hpp"

struct redisAsyncContext;
struct redisReply;

namespace sb::layerd {

class redis_link {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t commands = 0;
    std::uint64_t errors = 0;        // error replies
    std::uint64_t dropped = 0;       // commands issued while disconnected
    std::uint64_t reconnects = 0;
  };

  explicit redis_link(common::redis_url url);
  ~redis_link();
  redis_link(const redis_link&) = delete;
  redis_link& operator=(const redis_link&) = delete;

  // Called once connected (after AUTH/SELECT were queued) and after every reconnect.
  std::function<void()> on_connected;

  bool connected() const { return ctx_ != nullptr && connected_; }

  // Commands wait in hiredis' buffer for the socket to take them, or (with
  // `answers`) for their replies.
  bool busy(bool answers) const;

  // Error replies are logged here (at warn) unless the owner judges them.
  bool log_error_replies = true;

  // Follow a Sentinel shard's master: `master` says where it is now
  // (nothing while unknown), `doubt` is told when this link finds it is not
  // talking to a usable master.
  using master_fn = std::function<std::optional<common::redis_endpoint>()>;
  using doubt_fn = std::function<void(const char* why)>;
  void follow_master(master_fn master, doubt_fn doubt);
  // Drops the connection (pending replies get nullptr) and reconnects at once.
  void reconnect_now(const char* why);
  // Where this link connects (or last did): the URL's host, or the master.
  const common::redis_endpoint& endpoint() const { return target_; }

  // Subscribe mode (a sentinel's +switch-master channel): SUBSCRIBE and
  // hand every reply on the channel to `on_message` (the confirmation and
  // each message; never nullptr). A subscribed link sends nothing else;
  // after a reconnect the owner subscribes again (on_connected).
  using message_fn = std::function<void(const ::redisReply* reply)>;
  bool subscribe(const std::string& channel, message_fn on_message);

  // Poll integration: fd (-1 when none) and wanted events (ZMQ_POLLIN/ZMQ_POLLOUT).
  int fd() const;
  short events() const;
  void on_ready(short revents);
  // Reconnects when due; returns how long the loop may sleep.
  std::chrono::milliseconds tick(clock::time_point now);

  // Fire-and-forget command; error replies are logged and counted.
  // Returns false (and counts a drop) when not connected.
  bool command(const std::vector<std::string>& argv);

  // Command whose reply matters: `done` gets the reply (nullptr when the
  // connection went away before it came). Returns false when not connected.
  using reply_fn = std::function<void(const ::redisReply* reply)>;
  bool command(const std::vector<std::string>& argv, reply_fn done);
  // A command in Redis' wire form that may wait up to lim::redis_defer_ms
  // for company (redis_commands::deferred).
  bool deferred(std::string_view resp, reply_fn done);
  // Whatever waits in the buffer goes at the next chance (stopping).
  void hurry() { urgent_ = want_write_; }

  const stats& counters() const { return stats_; }

 private:
  void connect();
  bool send_raw(const std::vector<std::string>& argv, reply_fn* done = nullptr);
  void lost(const char* why);
  bool write_may_wait() const;
  void write_done();
  void became_connected();
  void drop(const char* why);
  void on_error_reply(const redisAsyncContext* c, const ::redisReply* reply);
  void on_role(const ::redisReply* reply);
  static void on_connect_cb(const redisAsyncContext* c, int status);
  static void on_disconnect_cb(const redisAsyncContext* c, int status);
  static void on_reply_cb(redisAsyncContext* c, void* reply, void* priv);
  static void on_message_cb(redisAsyncContext* c, void* reply, void* priv);

  common::redis_url url_;
  common::redis_endpoint target_;
  master_fn master_;
  doubt_fn doubt_;
  message_fn on_message_;
  static constexpr std::chrono::milliseconds role_timeout{5000};
  clock::time_point role_deadline_{};
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  bool want_read_ = false;
  bool want_write_ = false;
  // Writes wait for POLLOUT only once due: at once when a command that
  // cannot wait is queued (urgent_), else at deferred_due_ (max: nothing
  // deferred is waiting).
  bool urgent_ = false;
  clock::time_point deferred_due_ = clock::time_point::max();
  bool warned_ = false;
  std::chrono::milliseconds backoff_{100};
  clock::time_point next_attempt_{};
  stats stats_;

  friend struct redis_adapter;
};

}  // namespace sb::layerd
