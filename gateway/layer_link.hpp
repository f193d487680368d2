// layer_link.hpp — the gateway's ZeroMQ link to every layerd.
//
// The link lives on the first I/O thread (hub thread 0): it owns a DEALER
// per layerd (ZeroMQ sockets are single-thread objects), watches each
// socket's ZMQ_FD in that thread's io_context, and keeps a 50 ms tick for
// heartbeats and timeouts. A group_send made on thread 0 goes straight to
// ZeroMQ, and a DELIVER is read and handed to the hub on the same thread,
// with no hop through a thread of its own. Other I/O threads post to
// thread 0. Each group is routed to one layerd by a consistent hash
// (common/hash_ring.hpp) over the links that are up, so every member sees a
// group's messages in one order.
//
// ZMQ_FD only signals changes: after it fires the socket is read until
// ZMQ_EVENTS shows no more input, and after a send (which may consume a
// signal) ZMQ_EVENTS is checked again, once per handler. Every ZeroMQ call
// made here is non-blocking (ZMQ_DONTWAIT sends and receives, ZMQ_EVENTS),
// so the I/O thread never waits on ZeroMQ; a group_send that ZeroMQ
// refuses (a full queue, or no connection under ZMQ_IMMEDIATE) is held in
// the send journal and retried in order, never dropped while a layerd is up.
//
// Liveness: HELLO/WELCOME to come up, HEARTBEAT both ways; a layerd silent
// for --layerd-timeout-ms is down and its groups move to the next one on
// the ring. Whenever ownership changes, the link sends each live layerd a
// SYNC with all of this gateway's members in the groups it now owns, so a
// restarted or newly responsible layerd knows everything at once.
//
// Healing: a layerd declared down may still look connected to ZeroMQ (a
// TCP connection that went silent, a paused process, a pipe layerd's ROUTER
// handed to another peer with our routing id), and ZeroMQ only reconnects
// a connection it saw close. So a link that goes down is re-created: the
// DEALER is closed and a new one (same routing id, so this gateway's
// channels stay valid) connects afresh; while no WELCOME comes, it is
// re-created again with backoff (docs/protocol.md, "Liveness, ownership
// and SYNC"). Each socket has a generation: a watch handler of a socket
// that is gone sees a stale generation and does nothing.
//
// Nothing lost on failover (docs/protocol.md, "Acknowledged group_sends"):
// each group_send is numbered and kept (send_journal) until its layerd's
// SEND_ACK; when the layerd goes down, the kept sends are re-sent, in
// order, to each group's new owner after a short grace that lets the other
// gateways SYNC it first, and receivers drop duplicates (delivery_dedup).
// A ZeroMQ monitor reports a lost connection at once, so a killed layerd is
// down within milliseconds, not --layerd-timeout-ms. What is kept is
// bounded (--unacked-max-messages, --unacked-max-bytes); past that a send
// is refused at the door and the consumer tells its client.
//
// Threading: public methods from any thread; callbacks run on hub thread 0
// and must only post elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "common/curve_keys.hpp"
#include "common/hash_ring.hpp"
#include "common/names.hpp"
#include "gateway/channel_layer.hpp"
#include "gateway/delivery_dedup.hpp"
#include "gateway/gateway_config.hpp"
#include "gateway/send_journal.hpp"
#include "proto/messages.hpp"

namespace sb::gateway {

class hub;

class layer_link final : public channel_layer {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::atomic<std::uint64_t> group_sends{0};
    std::atomic<std::uint64_t> delivers_in{0};
    std::atomic<std::uint64_t> dropped_no_layerd{0};
    std::atomic<std::uint64_t> malformed_in{0};
    std::atomic<std::uint64_t> links_reopened{0};
    std::atomic<std::uint64_t> sends_refused{0};     // over the unacked bound: the client got an error frame
    std::atomic<std::uint64_t> sends_resent{0};      // re-sent to a new owner after a failover
    std::atomic<std::uint64_t> duplicates_dropped{0};  // GROUP_DELIVERs already delivered
    std::atomic<std::uint64_t> channel_sends{0};        // SENDs to one channel handed to ZeroMQ
    std::atomic<std::uint64_t> channel_sends_failed{0};  // ... that failed (refused, lost, no layerd, no answer)
    std::atomic<std::uint64_t> channel_sends_timed_out{0};  // ... of which: no answer within --send-timeout-ms
    std::atomic<std::uint64_t> history_requests{0};   // HISTORY_GETs sent (replays asked for)
    std::atomic<std::uint64_t> history_failed{0};     // replays not answered (no layerd, link lost, refused)
    std::atomic<std::uint64_t> history_timed_out{0};  // ... of which: no answer within --history-timeout-ms
    std::atomic<std::uint64_t> batch_dones{0};        // BATCH_DONEs sent to a sole layerd
  };

  layer_link(const gateway_config& cfg, std::string gateway_id, hub& h);
  ~layer_link();
  layer_link(const layer_link&) = delete;
  layer_link& operator=(const layer_link&) = delete;

  // Starts on hub thread 0 (call after or before hub::start()).
  void start();
  // Tells every live layerd this gateway has no members any more, then
  // stops. Waits for thread 0 while the hub runs, else runs here. Later
  // calls to the methods below are ignored.
  void stop();

  void group_add(std::string group, std::string channel, join_callback cb) override;
  void group_add_as(std::string group, std::string channel, proto::presence_user user, join_callback cb) override;
  // A Django socket's group_add once its worker accepted it (again for the
  // groups it joined before): layerd then writes the group's events its
  // RENDER does not cover to the worker itself (layerd/worker_members.hpp);
  // a layerd older than 1.5 hears a plain GROUP_ADD.
  void group_add_worker(std::string group, std::string channel, proto::worker_route worker);
  // Who is in `group`, asked of its owner (PRESENCE_GET): `done` runs once
  // on hub thread 0 with the answer, or with nullptr and why not ("no
  // layerd available", "timeout", "layerd lost", an ERROR's code).
  using presence_callback = std::function<void(const proto::presence_state* state, const std::string& error)>;
  void presence(std::string group, presence_callback done);
  void group_discard(std::string group, std::string channel) override;
  bool group_send(std::string group, std::string event) override;

  // A SEND of `event` (msgpack) to `channel`, routed to the ring owner of
  // `route_key` (docs/protocol.md, Part 3: every message about one worker
  // process' sockets goes through one layerd, so layerd's strictly
  // increasing scores keep them in order). `done` runs once on hub thread
  // 0 with an empty text when layerd wrote or delivered it (ACK; or sent,
  // to a layerd older than 1.3, which does not answer), else the ERROR
  // code, "layerd lost" (the link went down with it outstanding), "no
  // layerd available", "layerd queue full", "too many sends outstanding"
  // (past max_sends_outstanding), "no answer from layerd" (none within
  // --send-timeout-ms: a layerd that stays up but never answers, and a
  // late answer is ignored) or "gateway stopping". `flags`: proto::send_flag
  // bits, sent only to a layerd of 1.4 or later (an older one writes the
  // message as without them).
  using send_callback = std::function<void(const std::string& error)>;
  // Before start(): what to do with a DELIVER to the control channel
  // `specific.<gateway>!ctl` (worker heartbeats and batches:
  // worker_registry); thread 0. `applied`: the batch's entries whose
  // group_send a sole layerd applied itself (DELIVER's applied, 1.6).
  using control_fn = std::function<void(const std::string& event, const std::vector<std::uint32_t>& applied)>;
  void on_control(control_fn f) { control_ = std::move(f); }
  // Before start(): the sockets whose worker messages wait for an earlier
  // seq (worker_door), named in a BATCH_DONE; nullopt when there are too
  // many to name (then none is sent). Thread 0.
  using waiting_fn = std::function<std::optional<std::vector<std::string>>()>;
  void on_waiting(waiting_fn f) { waiting_ = std::move(f); }
  // Before start(): where a DELIVER's event for a conn that takes events
  // goes (worker_door), on thread 0; unset: hub::deliver_events.
  using socket_message_fn = std::function<void(std::uint64_t conn, const std::shared_ptr<const std::string>& event)>;
  void on_socket_message(socket_message_fn f) { socket_message_ = std::move(f); }
  static constexpr std::string_view control_conn = common::control_conn;
  void send(std::string channel, std::string event, std::string route_key, send_callback done,
            std::uint32_t flags = 0);
  static constexpr std::size_t max_sends_outstanding = 100000;

  // A room's replay (docs/protocol.md, History): HISTORY_GET to the
  // group's owner. `done` runs once on hub thread 0; answered=false when
  // no layerd is up, the link went down, layerd refused it, or it was not
  // answered within --history-timeout-ms (a late answer is ignored).
  struct history_answer {
    bool answered = false;
    bool complete = false;
    std::vector<std::string> events;  // msgpack, oldest first
  };
  using history_callback = std::function<void(history_answer)>;
  void history(std::string group, std::uint32_t count, std::string since, history_callback done);

  std::size_t links_up() const { return links_up_.load(std::memory_order_relaxed); }
  std::size_t links() const { return peers_.size(); }
  const stats& counters() const { return stats_; }
  // group_sends kept until a layerd acknowledges them (sent or parked).
  std::size_t unacked_messages() const { return unacked_msgs_.load(std::memory_order_relaxed); }

 private:
  struct peer {
    std::string endpoint;
    std::unique_ptr<zmq::socket_t> sock;
    // Watches the socket's ZMQ_FD; released (never closed: the fd is
    // ZeroMQ's) on stop and before the socket is re-created.
    std::unique_ptr<boost::asio::posix::stream_descriptor> watch;
    std::uint64_t generation = 0;  // bumped each time sock is re-created
    clock::time_point reopen_at = clock::time_point::max();  // while down: re-create then
    std::chrono::milliseconds reopen_backoff{0};
    bool acks = false;  // the layerd speaks 1.2: numbered group_sends, SEND_ACK
    bool send_requests = false;  // the layerd speaks 1.3: SEND answered by ACK or ERROR with its request
    bool send_flags = false;     // the layerd speaks 1.4: SEND's flags
    bool workers = false;        // the layerd speaks 1.5: a member's worker, GROUP_DELIVER's forwarded
    // ZMQ_EVENT_DISCONNECTED / _HANDSHAKE_SUCCEEDED of sock, read like sock
    std::unique_ptr<zmq::socket_t> monitor;
    std::unique_ptr<boost::asio::posix::stream_descriptor> monitor_watch;
    clock::time_point lost_at = clock::time_point::max();  // connection lost and not back since
    bool up = false;
    clock::time_point last_heard{};
    clock::time_point next_hello{};
    std::chrono::milliseconds hello_backoff{100};
    bool version_refused = false;
    bool warned = false;  // "unreachable" logged since it was last up
    clock::time_point down_since{};
    // A read that stopped at max_reads_per_handler has posted its
    // continuation: other triggers (readiness, a send) leave the reading to
    // it, so one pass never reads more than one batch from this peer.
    bool more_posted = false;
  };
  struct pending_join {
    join_callback cb;  // failures (timeout, link lost, ERROR) and a join's ACK
    clock::time_point deadline;
    std::size_t peer;
    presence_callback on_state{};  // a PRESENCE_GET's answer
  };
  struct pending_send {
    send_callback done;
    std::size_t peer;
  };
  struct pending_history {
    history_callback done;
    clock::time_point deadline;
    std::size_t peer;
  };
  // Runs and forgets the replay waiting for `request` (answered or failed); false when none does.
  bool answer_history(std::uint64_t request, history_answer answer);

  // Runs `f` on thread 0: at once when called there, else posted.
  template <class F>
  void on_link_thread(F&& f);
  void begin();
  void shutdown();
  // The one place a DEALER to a layerd is made (routing id, options, connect).
  std::unique_ptr<zmq::socket_t> make_socket(const std::string& endpoint);
  // Closes peer p's DEALER and connects a new one; the watch moves with it.
  void reopen(std::size_t p, const char* why);
  void watch_socket(std::size_t p);
  void unwatch_socket(std::size_t p);
  void arm_watch(std::size_t p);
  void attach_monitor(std::size_t p);
  void detach_monitor(std::size_t p);
  void arm_monitor(std::size_t p);
  void read_monitor(std::size_t p);
  // Sends e to its group's owner; false (e untouched) when ZeroMQ refused it.
  bool dispatch(send_journal::entry& e);
  void flush_parked(clock::time_point now);
  void release(std::size_t bytes, std::size_t n);
  void drop_send(const std::string& group, std::size_t bytes, const char* why);
  void arm_tick();
  void read_peer(std::size_t p);
  void recheck_after_send();
  // What the layerds hear about each member: its user (presence; none for
  // sockets without one) and its worker (a Django socket's, once accepted).
  struct member_info {
    std::optional<proto::presence_user> user;
    std::optional<proto::worker_route> worker;
  };
  void do_add(std::string group, std::string channel, member_info info, join_callback cb);
  void do_presence(const std::string& group, presence_callback done);
  void do_discard(const std::string& group, const std::string& channel);
  void do_send(std::string group, std::string event);
  void on_message(std::size_t p, std::uint8_t kind, std::string_view body);
  void tick(clock::time_point now);
  // grace: how long re-sends wait after the link goes down (other gateways SYNC first)
  void set_up(std::size_t p, bool up, const char* why,
              std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // SYNCs every live layerd; alive_before is the ring before the change.
  void sync_all(const std::vector<bool>& alive_before);
  bool send_to(std::size_t p, const proto::message& m);
  std::optional<std::size_t> owner(const std::string& group) const;
  void fail_pending(std::size_t p, const std::string& why);
  void do_send_to_channel(std::string channel, std::string event, const std::string& route_key, send_callback done,
                          std::uint32_t flags);
  // Fails the SENDs whose answer is overdue (--send-timeout-ms).
  void expire_sends(clock::time_point now);
  // Runs and forgets the send waiting for `request`; false when none does.
  bool answer_send(std::uint64_t request, const std::string& error);

  gateway_config cfg_;
  std::string gateway_id_;
  hub& hub_;
  boost::asio::io_context& ioc_;  // hub thread 0's
  zmq::context_t ctx_{1};
  std::vector<peer> peers_;
  std::vector<bool> alive_;
  common::hash_ring ring_;
  std::optional<common::curve_client_keys> curve_;  // --curve-secret-file's keys, for every socket made

  // thread 0 only:
  // group → channel → member_info
  std::unordered_map<std::string, std::unordered_map<std::string, member_info>> members_;
  std::unordered_map<std::uint64_t, pending_join> pending_;
  std::unordered_map<std::uint64_t, pending_send> sends_;
  std::unordered_map<std::uint64_t, pending_history> histories_;  // HISTORY_GETs waiting for HISTORY  // SENDs waiting for ACK or ERROR (same request numbers)
  // Each SEND's deadline, in request order (one timeout for all, so the
  // front is always the oldest); answered ones are skipped when they reach
  // the front.
  std::deque<std::pair<clock::time_point, std::uint64_t>> send_deadlines_;
  control_fn control_;
  waiting_fn waiting_;
  // A DELIVER with a serial is applied: BATCH_DONE to its layerd (popped_sends, layerd side).
  void batch_done(std::size_t p, std::uint64_t serial);
  socket_message_fn socket_message_;
  std::uint64_t next_request_ = 1;
  clock::time_point next_heartbeat_{};
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  bool recheck_posted_ = false;
  bool started_ = false;
  send_journal journal_;
  delivery_dedup dedup_;
  std::uint64_t next_id_ = 1;
  clock::time_point release_at_{};  // parked sends wait until then
  std::vector<bool> grace_alive_;   // the ring before the failover whose grace runs
  clock::time_point next_expire_{};

  // any thread: what the journal holds, reserved before the post to thread 0
  std::atomic<std::size_t> unacked_msgs_{0};
  std::atomic<std::size_t> unacked_bytes_{0};

  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> links_up_{0};
  stats stats_;
};

}  // namespace sb::gateway
