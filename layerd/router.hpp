// router.hpp — the peer protocol: reads what gateways and clients send on
// the ROUTER socket, checks it, and hands each message to the unit that
// owns it; group_send fans out here.
//
// A group_send becomes one GROUP_DELIVER per gateway that has members,
// encoded once (each gateway knows its own members, so a send costs
// O(gateways), not O(members)), then goes to the Django bridge and the
// group hooks. A numbered group_send from a gateway is acknowledged with
// one cumulative SEND_ACK per gateway per batch read, after its fan-out. Gateways that stop sending heartbeats are forgotten with
// their members. Everything runs in arrival order on one thread, so a
// group's operations need no locks (docs/architecture.md, "ordering and
// failover").
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe. peers, membership and django_bridge outlive it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "layerd/django_bridge.hpp"
#include "layerd/membership.hpp"
#include "layerd/options.hpp"
#include "layerd/peers.hpp"
#include "layerd/popped_sends.hpp"
#include "layerd/room_history.hpp"
#include "layerd/presence.hpp"
#include "layerd/worker_members.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

class router {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t messages_in = 0;
    std::uint64_t malformed = 0;
    std::uint64_t events_refused = 0;  // GROUP_SEND/SEND events refused by check_event (also in malformed)
    std::uint64_t group_sends = 0;
    std::uint64_t delivers_out = 0;
    std::uint64_t gateways_expired = 0;
    std::uint64_t clients_seen = 0;  // client HELLOs (not gateways)
    // Group events written to Django workers for their gateways' sockets
    // (worker_members.hpp): messages, the sockets they named, and sockets
    // whose event could not be written (full inbox, Redis unavailable).
    std::uint64_t worker_events = 0;
    std::uint64_t worker_event_sockets = 0;
    std::uint64_t worker_event_sockets_dropped = 0;
    // group_send handling time (receive to the last GROUP_DELIVER queued), µs
    static constexpr std::array<double, 10> latency_bounds_us{1, 2, 5, 10, 20, 50, 100, 500, 1000, 10000};
    std::array<std::uint64_t, 11> latency_buckets{};  // last one: +Inf
    double latency_sum_us = 0;
  };

  router(const layerd_config& cfg, peers& peers, membership& members, django_bridge& bridge, room_history& history);

  // The socket is readable: handles a bounded batch of messages.
  void on_readable();
  // One message [kind, body] from `peer`.
  void handle(const std::string& peer, std::uint8_t kind, std::string_view body);
  // A checked group_send (from a peer or the HTTP API). origin and id (a
  // gateway's run id and its number for the send) go into the GROUP_DELIVER
  // so receiving gateways can drop a duplicate re-sent after a failover.
  // A chat message to a group with history on is stamped with its id first
  // (room_history.hpp), which may wait for one Redis round trip; then
  // `ack_of` (a gateway whose numbered send this is) gets no SEND_ACK
  // until the fan-out is done.
  void group_send(const std::string& group, const std::string& event, const std::string& type,
                  const std::string& origin = {}, std::uint64_t id = 0, const std::string& ack_of = {});
  // A checked send() to one channel (from a peer or the HTTP API): a live
  // gateway's socket gets a DELIVER; any other valid channel except a gone
  // Switchboard one is written to its channels_redis inbox (django_bridge).
  // `done` gets an empty code when delivered or written, else an ERROR
  // code (`bad_name`, `no_route`, `channel_full`, `redis_unavailable`) and
  // its text; it runs once, maybe after a Redis round trip.
  struct send_outcome {
    std::string code;
    std::string text;
  };
  using send_done = std::function<void(send_outcome)>;
  // every_host: SEND's send_every_host flag (django_bridge::send_to_channel).
  void send(const std::string& channel, const std::string& event, send_done done, bool every_host = false);
  // Forgets gateways that fell silent.
  void tick(clock::time_point now);
  // Presence (a group hook attached to membership too): the router hands it
  // each joining socket's user and answers PRESENCE_GET from it. Without
  // it, users are ignored and PRESENCE_GET is refused.
  void attach_presence(presence& p) { presence_ = &p; }
  const presence* presence_unit() const { return presence_; }

  const stats& counters() const { return stats_; }
  const worker_members& workers() const { return workers_; }
  const popped_sends& popped() const { return popped_; }

 private:
  void on_hello(const std::string& peer, const proto::hello& h);
  void on_group_add(const std::string& peer, const proto::group_add& a);
  void on_group_discard(const std::string& peer, const proto::group_discard& d);
  void on_group_send(const std::string& peer, const proto::group_send& s);
  void on_send(const std::string& peer, const proto::send& s);
  void on_sync(const std::string& peer, const proto::sync& s);
  void on_history_get(const std::string& peer, const proto::history_get& h);
  // The fan-out itself: one GROUP_DELIVER per gateway, Django, the hooks.
  void fan_out(const std::string& group, const std::string& event, std::string_view type, const std::string& origin,
               std::uint64_t id, clock::time_point t0);
  void on_presence_get(const std::string& peer, const proto::presence_get& g);
  // A message popped from a gateway's inbox (django_bridge), for `conns`
  // there. For a sole gateway: one for its control channel alone goes to
  // deliver_control; a worker's group operation sent to a socket alone
  // marks that socket (popped_sends.hpp). False: DELIVER it as it is.
  bool on_popped(const std::string& gateway, const std::vector<std::string>& conns, const std::string& event);
  // on_popped's part for a sole gateway's control channel: its
  // switchboard.batch is DELIVERed with what this layerd applies of it, then
  // those group_sends applied (popped_sends.hpp). False: not such a batch,
  // deliver it as any other.
  bool deliver_control(const std::string& gateway, const std::string& event);
  // A worker_members write: one switchboard.event into W's inbox; a failure is counted and logged.
  void write_worker_event(worker_members::write w);
  // A member-changing message from a peer that is not a gateway.
  void refuse_non_gateway(const std::string& peer, std::uint64_t request);
  // An event check_event refused: counted, logged (rate-limited), ERROR bad_event to the peer.
  void refuse_event(const std::string& peer, const char* what, const std::string& to, const std::string& why,
                    std::uint64_t request = 0);
  void reject(const std::string& peer, std::uint64_t request, const char* code, const std::string& text);
  void forget_gateway(const std::string& gateway, const char* why);
  // Sends each gateway one SEND_ACK for the group_sends of this batch.
  void flush_acks();

  const layerd_config& cfg_;
  peers& peers_;
  membership& members_;
  django_bridge& bridge_;
  room_history& history_;
  presence* presence_ = nullptr;
  worker_members workers_;
  popped_sends popped_;
  stats stats_;
  // Gateways with numbered sends waiting for their history id: their
  // SEND_ACK (the highest seq handled) waits until none is left, as the
  // ack says every send up to it is fanned out (docs/protocol.md, SEND_ACK).
  struct held_ack {
    std::size_t waiting = 0;
    std::uint64_t seq = 0;
  };
  std::unordered_map<std::string, held_ack> held_acks_;
  std::unordered_map<std::string, std::uint64_t> acks_;  // gateway → highest seq handled this batch
  // A client's SENDs waiting for Redis, and the HEARTBEATs it sent after
  // them: each HEARTBEAT is answered only once every SEND before it is, so
  // an ERROR about a send still arrives before the HEARTBEAT that follows
  // it (docs/protocol.md, HELLO roles). Sends are numbered per client; a
  // waiting HEARTBEAT remembers the last number issued before it.
  struct client_wait {
    std::uint64_t issued = 0;
    std::set<std::uint64_t> outstanding;
    std::deque<std::uint64_t> heartbeats;
  };
  void send_answered(const std::string& peer, std::uint64_t number);
  std::unordered_map<std::string, client_wait> waits_;
};

}  // namespace sb::layerd
