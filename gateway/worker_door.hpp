// worker_door.hpp — where every worker message for a Django route's socket
// is put in order and applied, on hub thread 0 (docs/protocol.md, Part 3).
//
// What a worker sends about a socket S reaches this gateway on thread 0,
// the layer link's: singly as a DELIVER to S's conn, or as an entry of a
// switchboard.batch on the control channel (worker_registry). The door
// keeps, per socket, the worker that speaks for it, its messages' `seq`
// order (seq_reorder.hpp) and the groups the worker put it in, and
// applies each message in that order:
//   - what concerns the channel layer at once, here: group_add,
//     group_discard and group_send go straight to the layer link, which
//     lives on this thread;
//   - what concerns the socket on the socket's own I/O thread, handed on
//     in the same order (django_consumer::from_door): the accept, a send,
//     a close, and the local membership a group_add or group_discard
//     changes (posted before the link is told, so a delivery for the group,
//     which comes back through thread 0 later, finds it).
// So a worker's group_send, the usual answer to a browser's message, never
// crosses to the socket's thread and back. An event for the socket (a
// send() to S that is not a worker message) goes to the socket's thread as
// before (hub::deliver_events).
//
// A socket's door opens before its connect leaves for the worker and
// closes when the socket ends; the groups the worker left it in are
// discarded then. A message for a socket without a door is counted and
// logged (django_consumer::on_unknown_socket).
//
// Threading: open() and close() from any thread (they post to thread 0);
// everything else on thread 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "gateway/consumer_socket.hpp"
#include "gateway/seq_reorder.hpp"
#include "common/worker_wire.hpp"
#include "proto/messages.hpp"

namespace sb::gateway {

struct server_context;
class django_consumer;
class worker_entry;

class worker_door {
 public:
  using clock = std::chrono::steady_clock;
  // A socket may be in at most this many groups (switchboard.group_add past it is dropped).
  static constexpr std::size_t max_groups = 1000;

  explicit worker_door(server_context& ctx);
  ~worker_door();
  worker_door(const worker_door&) = delete;
  worker_door& operator=(const worker_door&) = delete;

  // The socket `conn` (channel S) is about to send its connect. `gate`: an
  // auth=django gate (the worker's group_add/discard are ignored; after its
  // accept the socket is the built-in consumer's). `to_socket` runs a
  // function on the socket's thread while the socket lives; `consumer` and
  // `socket` are used only there.
  struct opening {
    std::uint64_t conn = 0;
    std::string channel;
    bool gate = false;
    consumer_socket::poster_fn to_socket;
    django_consumer* consumer = nullptr;
    consumer_socket* socket = nullptr;
  };
  void open(opening o);
  // The socket ended: its groups are discarded, its worker forgets it. Idempotent.
  void close(std::uint64_t conn);

  // Thread 0: one message (msgpack) for the socket `conn`. by_layerd: a
  // group_send the gateway's sole layerd applied itself (DELIVER's
  // applied): only its seq is taken here.
  void on_message(std::uint64_t conn, const std::shared_ptr<const std::string>& event, bool by_layerd = false);
  // Thread 0: the channels of the sockets with messages waiting for an
  // earlier seq (for BATCH_DONE); nullopt when there are more than
  // limits::max_batch_done_waiting.
  std::optional<std::vector<std::string>> waiting() const;
  // Thread 0, twice a second (worker_registry's sweep): a seq gap older
  // than seq_reorder::max_gap ends its socket.
  void sweep(clock::time_point now);

 private:
  struct socket_state {
    std::string channel;
    std::string worker;  // W, from the first message a worker sent about the socket
    bool gate = false;
    bool handed_over = false;  // a gate's accept was applied
    seq_reorder<common::worker_wire::message> order;
    std::set<std::string> groups;
    // From a batching worker's accept on: W and its RENDER, told to layerd
    // with each group (layer_link::group_add_worker).
    std::optional<proto::worker_route> route;
    std::shared_ptr<worker_entry> entry;  // W's liveness (worker_registry), from the accept on
    consumer_socket::poster_fn to_socket;
    django_consumer* consumer = nullptr;
    consumer_socket* socket = nullptr;
  };
  void apply(socket_state& s, common::worker_wire::message& m);
  // Hands `m` to the socket's thread (django_consumer::from_door).
  void hand_on(socket_state& s, common::worker_wire::message m);
  void end(socket_state& s, const std::string& why);
  void drop(const socket_state& s, int reason, const char* what, const std::string& detail);
  void do_close(std::uint64_t conn);

  server_context& ctx_;
  std::unordered_map<std::uint64_t, socket_state> sockets_;  // thread 0
  std::unordered_set<std::uint64_t> gapped_;                 // thread 0: sockets with messages waiting for their turn
};

}  // namespace sb::gateway
