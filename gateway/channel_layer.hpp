// channel_layer.hpp — what a consumer asks of the channel layer.
//
// The three calls Django's consumers make on self.channel_layer, as an
// interface so consumers are tested without ZeroMQ or a layerd
// (tests/unit/gateway/). layer_link is the one implementation; it is
// final, so the gateway's own calls on it are not virtual.
//
// Threading: every method may be called from any thread; join callbacks run
// on hub thread 0 and must only post elsewhere (see layer_link.hpp).
#pragma once

#include <functional>
#include <string>

#include "proto/messages.hpp"

namespace sb::gateway {

class channel_layer {
 public:
  // ok=false carries a short reason ("no layerd available", "timeout", ...)
  using join_callback = std::function<void(bool ok, const std::string& why)>;

  virtual void group_add(std::string group, std::string channel, join_callback cb) = 0;
  // The same join naming the socket's user for presence (proto 1.4's
  // GROUP_ADD user; layerd/presence.hpp). A layer that keeps no presence
  // joins without it.
  virtual void group_add_as(std::string group, std::string channel, proto::presence_user user, join_callback cb) {
    (void)user;
    group_add(std::move(group), std::move(channel), std::move(cb));
  }
  virtual void group_discard(std::string group, std::string channel) = 0;
  // False when the send is refused at once (the layer holds too many sends
  // not yet acknowledged by layerd): the consumer tells the client.
  virtual bool group_send(std::string group, std::string event) = 0;

 protected:
  ~channel_layer() = default;
};

}  // namespace sb::gateway
