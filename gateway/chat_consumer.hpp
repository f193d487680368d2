// chat_consumer.hpp — the seed's ChatConsumer: /ws/chat/<room>/ in group chat_<room>.
//
// Each {"message": m} the browser sends becomes a group_send of
// {"type": "chat.message", "message": m, "user": {...}} to the room's
// group, the user being the socket's identity from the handshake
// (auth_policy.hpp), never anything in the frame; anything
// else is answered with an error frame (bad_json, bad_message) and the
// socket stays open. A heartbeat {"type": "ping"} (no "message") gets
// {"type": "pong"} on this socket alone (common/event.hpp). The join carries the same identity (and whether the
// socket watches presence) for the room's presence (layerd/presence.hpp);
// leaving is consumer's default.
//
// Threading: on its session's thread only (see consumer.hpp).
#pragma once

#include "gateway/consumer.hpp"

namespace sb::gateway {

class chat_consumer final : public consumer {
 public:
  chat_consumer(const std::string& room, identity user, channel_layer& layer, gateway_stats& stats);
  // The route's factory (router.cpp).
  static std::unique_ptr<consumer> make(const std::string& room, const identity& user, channel_layer& layer,
                                        gateway_stats& stats);

  // Joins naming the socket's user, so the room's presence counts it.
  void on_connect(consumer_socket& socket, channel_layer::join_callback accept) override;
  void on_receive(consumer_socket& socket, std::string_view text) override;

  const identity& user() const { return user_; }

 private:
  identity user_;
};

}  // namespace sb::gateway
