// hub.hpp — the gateway's I/O threads and which connection lives on which.
//
// One io_context per thread, each run by exactly one thread, so a session
// and everything it touches stay on one thread with no locks. A conn id
// carries its thread in the top byte, so a DELIVER from layerd is split
// by thread and each part posted once to that thread, which looks up its
// own sessions (docs/architecture.md, rule 2: copy pointers out, send
// after; never touch a socket from another thread). The frame is shared, never copied per recipient.
//
// Each thread also keeps the list of sessions with frames queued this
// reactor pass and flushes them once (one gather write per socket per
// pass; with --flush-interval-us N at most one such pass every N µs per
// thread, so under steady load several messages share a write while a
// message after a quiet spell still goes at once),
// and runs one sweep timer for every session's keepalive and
// close deadlines instead of a timer per socket.
//
// Threading: add()/remove()/mark_dirty() only on the conn's own thread;
// deliver() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace sb::gateway {

class websocket_session;

class hub {
 public:
  // flush_interval 0: flush at the end of each reactor pass (lowest
  // latency); otherwise also at most once per interval per thread: frames
  // queued sooner after the last flush wait for the interval to end.
  explicit hub(std::size_t threads, std::chrono::microseconds flush_interval = std::chrono::microseconds(0));
  ~hub();
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  std::size_t threads() const { return shards_.size(); }
  boost::asio::io_context& context(std::size_t thread) { return *shards_[thread]->ioc; }
  // Picks the thread for the next accepted connection (round robin).
  std::size_t next_thread();

  void start();  // runs every io_context on its own thread
  // Between start() and the end of stop(): the threads may be running handlers.
  bool running() const { return running_.load(std::memory_order_acquire); }
  void stop();   // stops and joins
  // After stop(): destroys pending handlers (and so the sessions they hold)
  // while the rest of the gateway is still alive.
  void destroy_handlers();

  // On the session's thread:
  std::uint64_t add(std::size_t thread, websocket_session* s);
  void remove(std::uint64_t conn);
  // The session has frames queued: flush it once at the end of this pass.
  void mark_dirty(std::size_t thread, std::shared_ptr<websocket_session> s);

  // From any thread: send `frame` to each listed conn id (hex strings).
  void deliver(const std::shared_ptr<const std::string>& frame, const std::vector<std::string>& conn_ids);
  // From any thread: asks every connection to close with 1001 (going away).
  void close_all();

  // From any thread: send `frame` to every local member of `group`.
  void deliver_group(const std::shared_ptr<const std::string>& frame, const std::string& group);

  // On the session's thread: local group membership, used by deliver_group.
  // A session is in at most one group; its slot makes leaving O(1).
  void join_local(std::size_t thread, const std::string& group, websocket_session* s);
  void leave_local(std::size_t thread, const std::string& group, websocket_session* s);

  std::size_t connections() const { return connections_.load(std::memory_order_relaxed); }

  // How long one pass's writes take (every dirty session of a thread
  // flushed once): for a big room, the time from the first member's write
  // to the last member's.
  static constexpr std::array<double, 9> flush_bounds_ms{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50};
  struct flush_histogram {
    std::array<std::uint64_t, flush_bounds_ms.size() + 1> buckets{};  // the last is +Inf
    std::uint64_t count = 0;
    double sum_ms = 0;
  };
  flush_histogram flush_times() const;
  std::uint64_t unknown_targets() const { return unknown_targets_.load(std::memory_order_relaxed); }

  static std::string conn_string(std::uint64_t conn);
  static std::size_t thread_of(std::uint64_t conn) { return static_cast<std::size_t>(conn >> 56); }

 private:
  struct shard {
    std::unique_ptr<boost::asio::io_context> ioc;
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    // Everything below is touched only on this shard's thread.
    std::unordered_map<std::uint64_t, websocket_session*> sessions;  // a session removes itself when it dies
    std::unordered_map<std::string, std::vector<websocket_session*>> groups;
    const std::vector<websocket_session*>* delivering = nullptr;  // the member list being walked
    std::uint64_t next_conn = 1;
    std::vector<std::shared_ptr<websocket_session>> dirty;
    std::vector<std::shared_ptr<websocket_session>> flushing;
    bool flush_posted = false;
    std::unique_ptr<boost::asio::steady_timer> sweep_timer;
    std::unique_ptr<boost::asio::steady_timer> flush_timer;  // with a flush interval only
    std::chrono::steady_clock::time_point last_flush{};
    std::thread thread;
  };
  void flush(shard& s);
  void arm_sweep(shard& s);

  std::vector<std::unique_ptr<shard>> shards_;
  std::chrono::microseconds flush_interval_;
  std::atomic<bool> stopped_{false};  // sessions dying at shutdown leave the maps alone
  std::atomic<bool> running_{false};
  std::atomic<std::size_t> round_robin_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::uint64_t> unknown_targets_{0};
  std::array<std::atomic<std::uint64_t>, flush_bounds_ms.size() + 1> flush_buckets_{};
  std::atomic<std::uint64_t> flush_sum_ns_{0};
};

}  // namespace sb::gateway
