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
// Sockets whose consumer takes events (django:NAME routes) get the event
// instead of a frame: their conn ids carry a bit that says so, so the link
// splits a DELIVER without a lookup, and a group's members are two lists:
// the built-in sockets (one group each, a slot: the loop that queues the
// shared frame is unchanged, no virtual call, no allocation per recipient)
// and the event-taking ones (any number of groups each), which render or
// forward per RENDER spec, not per member (event_delivery.hpp).
//
// Threading: add()/remove()/mark_dirty() only on the conn's own thread;
// deliver() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/close_reason.hpp"

namespace sb::gateway {

class websocket_session;
struct event_delivery;

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

  // On the session's thread. takes_events: the session's consumer takes
  // events (its conn id has events_bit).
  std::uint64_t add(std::size_t thread, websocket_session* s, bool takes_events = false);
  void remove(std::uint64_t conn);
  // The session has frames queued: flush it once at the end of this pass.
  void mark_dirty(std::size_t thread, std::shared_ptr<websocket_session> s);

  // From any thread: send `frame` to each listed conn id (hex strings).
  void deliver(const std::shared_ptr<const std::string>& frame, const std::vector<std::string>& conn_ids);
  // From any thread: asks every connection to close with 1001 (going away).
  void close_all();

  // From any thread: send `frame` to every local member of `group`; the
  // members that take events get `event` (msgpack) instead (null: none
  // existed when the caller looked, events_sessions()), except those in
  // `forwarded` (sorted conn ids; null: none), whose worker layerd gave the
  // event already when their RENDER does not render it.
  void deliver_group(const std::shared_ptr<const std::string>& frame, const std::string& group,
                     const std::shared_ptr<const std::string>& event = nullptr,
                     const std::shared_ptr<const std::vector<std::uint64_t>>& forwarded = nullptr);
  // From any thread: the event (a DELIVER's) to each listed conn that takes events.
  void deliver_events(const std::shared_ptr<const std::string>& event, const std::vector<std::uint64_t>& conns);
  // From any thread: closes each listed conn (hex) that is still open.
  void close_conns(const std::vector<std::string>& conn_ids, close_reason why);
  // Before start(): what to do with an event for a conn that takes events
  // but is not here (on that conn's thread).
  void on_unknown_event_target(std::function<void(std::uint64_t conn, const std::string& event)> f) {
    unknown_event_target_ = std::move(f);
  }
  // Before start(): what to do, on the thread, at the end of a group
  // delivery's walk of the members that take events (their counts, and the
  // events they left for their workers, event_delivery::forward).
  void on_forwarded(std::function<void(event_delivery&)> f) { forwarded_ = std::move(f); }
  std::size_t events_sessions() const { return events_sessions_.load(std::memory_order_relaxed); }

  // On the session's thread: local group membership, used by deliver_group.
  // A built-in session is in at most one group; its slot makes leaving O(1).
  void join_local(std::size_t thread, const std::string& group, websocket_session* s);
  void leave_local(std::size_t thread, const std::string& group, websocket_session* s);
  // An event-taking session, in any number of groups.
  void join_events(std::size_t thread, const std::string& group, websocket_session* s);
  void leave_events(std::size_t thread, const std::string& group, websocket_session* s);

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
  static constexpr std::uint64_t events_bit = std::uint64_t{1} << 55;
  static bool takes_events(std::uint64_t conn) { return (conn & events_bit) != 0; }
  // A conn id's text (hex) as a number; false when it is none of ours.
  bool parse_conn(std::string_view id, std::uint64_t& conn) const;

 private:
  struct shard {
    std::unique_ptr<boost::asio::io_context> ioc;
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    // Everything below is touched only on this shard's thread.
    std::unordered_map<std::uint64_t, websocket_session*> sessions;  // a session removes itself when it dies
    struct local_group {
      std::vector<websocket_session*> members;              // built-in sessions (slot = index)
      // Sessions that take events, walked like `members` (contiguous, no
      // copy), and each one's index there, for an O(1) leave: such a
      // session may be in any number of groups, so the index is kept here.
      std::vector<websocket_session*> event_members;
      std::unordered_map<websocket_session*, std::uint32_t> event_slots;
      bool empty() const { return members.empty() && event_members.empty(); }
    };
    std::unordered_map<std::string, local_group> groups;
    const local_group* delivering = nullptr;  // the group being walked (erased after, not during)
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
  std::atomic<std::size_t> events_sessions_{0};
  std::function<void(std::uint64_t, const std::string&)> unknown_event_target_;
  std::function<void(event_delivery&)> forwarded_;
  std::array<std::atomic<std::uint64_t>, flush_bounds_ms.size() + 1> flush_buckets_{};
  std::atomic<std::uint64_t> flush_sum_ns_{0};
};

}  // namespace sb::gateway
