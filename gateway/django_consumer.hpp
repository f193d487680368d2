// django_consumer.hpp — a socket on a django:NAME route: the Django app's
// own consumer, run by `runworker NAME`, drives it over the channel layer
// (docs/protocol.md, Part 3; docs/django.md, Keep your consumers).
//
// The handshake is held (no 101) while the connect goes to NAME and the
// worker answers on the socket's channel S: websocket.accept gives the
// 101, a close before it 403, no answer within --connect-timeout-ms 503.
// From then on browser messages go to the worker process W that took the
// socket. W's messages (websocket.send, websocket.close,
// switchboard.group_*) are put in their `seq` order and applied by the
// socket's door on the layer link's thread (worker_door.hpp), which hands
// this consumer, in that order, what concerns the socket itself
// (from_door). Group events are rendered here when the socket's RENDER
// covers them (event_delivery.hpp), else forwarded to W as
// switchboard.event. Every message to W goes through the ring owner of W
// (layer_link::send), so layerd writes them in order.
//
// As the gate of a built-in route (auth=django:NAME) the same connect
// decides, but the worker's accept hands the socket over: the built-in
// consumer (`gate`) is made with the user the accept names, joins its
// group, and then serves the socket as on any built-in route; the worker
// is told websocket.disconnect (1000) at once and its later messages about
// the socket are ignored (docs/protocol.md, Part 3, Gates).
//
// Every drop is counted (gateway_stats::workers) and logged rate-limited
// (docs/architecture.md, rule 7).
//
// Threading: like every consumer, touched only on its socket's thread;
// the link's and the door's callbacks hop back with consumer_socket's
// poster and dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "gateway/consumer.hpp"
#include "common/render_spec.hpp"
#include "common/worker_wire.hpp"

namespace sb::gateway {

struct server_context;

class django_consumer final : public consumer {
 public:
  using clock = std::chrono::steady_clock;

  // `gate` set: an auth=django gate for that built-in consumer in `gate_room`.
  django_consumer(std::string name, std::string scope_msgpack, std::vector<std::string> offered_subprotocols,
                  server_context& ctx, consumer::factory gate = nullptr, std::string gate_room = {});
  ~django_consumer() override;

  void on_connect(consumer_socket& socket, channel_layer::join_callback accept) override;
  void on_receive(consumer_socket& socket, std::string_view text) override;
  void on_disconnect(consumer_socket& socket) override;

  bool takes_events() const override { return true; }
  const std::string* history_group() const override { return builtin_ ? &builtin_->group() : nullptr; }
  bool takes_binary() const override { return !gate_; }
  void on_binary(consumer_socket& socket, std::string_view data) override;
  void on_layer_message(consumer_socket& socket, const std::shared_ptr<const std::string>& event) override;
  void on_group_event(consumer_socket& socket, event_delivery& d) override;
  void on_sweep(consumer_socket& socket, clock::time_point now) override;
  unsigned refusal_status() const override { return refusal_; }
  bool accepted() const override { return state_ == state::open && !gate_; }
  const std::string* subprotocol() const override { return has_subprotocol_ && !gate_ ? &subprotocol_ : nullptr; }

  // From the socket's door (worker_door.hpp), in seq order: an accept, a
  // send, a close, the local side of a group_add / group_discard, or
  // (worker_alive) the note that W spoke for the socket.
  void from_door(consumer_socket& socket, common::worker_wire::message& m);
  // The door ends the socket (its worker's messages out of order).
  void door_ended(consumer_socket& socket, const std::string& why);

  // A message for a conn this gateway does not hold (closed, timed out,
  // refused): counted; a late accept gets websocket.disconnect 1006 to its
  // worker, so the consumer there ends. On any I/O thread.
  static void on_unknown_socket(server_context& ctx, const std::string& channel, const std::string& event);
  static void on_unknown_socket(server_context& ctx, const std::string& channel, const common::worker_wire::message* m);
  // A worker message dropped for the socket `channel`: counted and logged.
  static void count_drop(server_context& ctx, const std::string& channel, int reason, const char* what,
                         const std::string& detail);
  // The end of a delivery's walk: counts its rendered frames, and sends the
  // events its members left for their workers (event_delivery::forward),
  // one switchboard.event per worker naming its sockets. On any I/O thread.
  static void finish_delivery(server_context& ctx, event_delivery& d);
  static void send_forwarded(server_context& ctx, event_delivery& d);

 private:
  enum class state : std::uint8_t { idle, connecting, open, refused, closed };

  void apply(consumer_socket& socket, common::worker_wire::message& m);
  void on_event(consumer_socket& socket, event_delivery& d);
  // Before the accept: the handshake is answered `status` (403 or 503).
  void refuse(unsigned status, int outcome, const std::string& why);
  // Ends the socket: refused while connecting, else closed with `why`.
  void end(consumer_socket& socket, close_cause why, const std::string& text);
  // A message to W; what happens when it cannot be handed on: `on_fail`.
  enum class on_fail { close_socket, drop };
  void to_worker(consumer_socket& socket, std::string message, on_fail f);
  void drop(int reason, const char* what, const std::string& detail);
  void leave_all(consumer_socket& socket);
  // websocket.disconnect with `code` to W, the consumer there ends.
  void tell_disconnect(int code);
  // A gate's accept: the socket becomes the built-in consumer's.
  void hand_over(consumer_socket& socket, const common::worker_wire::message& m);

  std::string name_;
  std::string scope_;
  std::vector<std::string> offered_;  // subprotocols the browser offered
  server_context& ctx_;
  std::string channel_;  // S
  std::string worker_;   // W, from the first message the door handed on
  std::uint64_t conn_ = 0;
  state state_ = state::idle;
  channel_layer::join_callback accept_;
  clock::time_point deadline_{};
  unsigned refusal_ = 503;
  std::string subprotocol_;
  bool has_subprotocol_ = false;
  bool batches_ = false;  // W took the socket in a switchboard.batch: it reads `sockets` events
  std::shared_ptr<const common::render_spec> render_;
  std::set<std::string> groups_;  // joined locally (the hub's lists): the door's, and a gate's room
  consumer::factory gate_ = nullptr;
  std::string gate_room_;
  std::unique_ptr<consumer> builtin_;  // a gate's built-in consumer, once handed over
};

}  // namespace sb::gateway
