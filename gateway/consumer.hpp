// consumer.hpp — what a WebSocket route runs, like a Channels consumer.
//
// The router maps a URL pattern to a factory (router.hpp); the factory
// builds one consumer per socket. websocket_session owns the transport
// (frames, queues, close, sweep) and calls the consumer at the three
// moments Django does: connect (join, then accept or refuse), receive (one
// text message), disconnect (leave). By default a consumer is a member of
// one group, joined on connect and left on disconnect, like Channels'
// `groups` attribute; subclasses say what a received message does.
//
// Group events are not rendered per consumer: a delivery is framed once
// per gateway by render() and the same bytes go on every member's queue,
// so the delivery path has no virtual call and no allocation per recipient.
//
// Threading: a consumer is touched only on its session's thread; render()
// is pure and runs on the layer link's thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/event.hpp"
#include "common/result.hpp"
#include "gateway/auth_policy.hpp"
#include "gateway/channel_layer.hpp"
#include "gateway/consumer_socket.hpp"

namespace sb::gateway {

struct gateway_stats;
struct event_delivery;

class consumer {
 public:
  // What a route builds per socket: the URL's room (decoded, a \w word),
  // the handshake's identity, and what consumers reach.
  using factory = std::unique_ptr<consumer> (*)(const std::string& room, const identity& user, channel_layer& layer,
                                                gateway_stats& stats);

  consumer(std::string group, channel_layer& layer, gateway_stats& stats);
  virtual ~consumer() = default;
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  const std::string& group() const { return group_; }
  // The socket asked for presence frames (?presence=1, docs/protocol.md):
  // set before on_connect; a consumer that reports its user to presence
  // (chat) sends it with the join.
  void watch_presence(bool watch) { presence_watch_ = watch; }
  bool presence_watch() const { return presence_watch_; }

  // Before the 101: joins the group and calls `accept(ok, why)` once layerd
  // has acknowledged (as `await group_add` precedes `accept()` in Django);
  // ok=false refuses the handshake with 503.
  virtual void on_connect(consumer_socket& socket, channel_layer::join_callback accept);
  // One text message from the browser.
  virtual void on_receive(consumer_socket& socket, std::string_view text) = 0;
  // The socket is closing or gone (after a successful on_connect call).
  virtual void on_disconnect(consumer_socket& socket);

  // Django routes (django_consumer.hpp): the built-ins keep these defaults.
  // A consumer that takes events gets each message for its socket as the
  // event (on_layer_message, on_group_event) instead of a rendered frame,
  // and its socket's conn id says so (hub::add), so the built-in delivery
  // path stays free of virtual calls.
  virtual bool takes_events() const { return false; }
  virtual bool takes_binary() const { return false; }  // else a binary frame closes with 1003
  virtual void on_binary(consumer_socket&, std::string_view) {}
  virtual void on_layer_message(consumer_socket&, const std::shared_ptr<const std::string>&) {}
  virtual void on_group_event(consumer_socket&, event_delivery&) {}
  // From the hub's once-a-second sweep, in every state (joining included).
  virtual void on_sweep(consumer_socket&, std::chrono::steady_clock::time_point) {}
  // The HTTP status when on_connect's accept said no, and the subprotocol
  // the 101 names (none: nullptr).
  virtual unsigned refusal_status() const { return 503; }
  // The consumer accepted the socket and its 101 is on its way: a close
  // before the 101 is written waits for it (Django's accept() then close()).
  virtual bool accepted() const { return false; }
  virtual const std::string* subprotocol() const { return nullptr; }
  // The room a ?history= / ?since= replay reads once the socket is open:
  // a built-in consumer's group; none on a Django route (its groups are
  // the app's); a gate's built-in consumer's once it took the socket.
  virtual const std::string* history_group() const { return takes_events() ? nullptr : &group_; }

  // A group event (msgpack) as the text frame every member receives, built
  // once and shared. Fails only on malformed msgpack.
  static common::result<std::shared_ptr<const std::string>> render(std::string_view event);

 protected:
  // Answers the socket with {"type":"error",...} and counts it.
  void reply_error(consumer_socket& socket, const common::client_error& e);
  // Answers a heartbeat {"type":"ping"} with {"type":"pong"} (one frame
  // shared by every socket) and counts it.
  void reply_pong(consumer_socket& socket);

  channel_layer& layer_;

 private:
  gateway_stats& stats_;
  std::string group_;
  bool presence_watch_ = false;
};

}  // namespace sb::gateway
