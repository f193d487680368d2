// notification_consumer.hpp — /ws/notification/<center>/ in group notification_<center>.
//
// Receive-only: the socket gets the group's notify events (layerd sends
// the pending ones first, right after the join); a heartbeat
// {"type": "ping"} gets {"type": "pong"}, anything else the browser
// sends a not_accepted error frame, and the socket stays open. Joining and leaving are consumer's defaults.
//
// Threading: on its session's thread only (see consumer.hpp).
#pragma once

#include "gateway/consumer.hpp"

namespace sb::gateway {

class notification_consumer final : public consumer {
 public:
  notification_consumer(const std::string& center, channel_layer& layer, gateway_stats& stats);
  // The route's factory (router.cpp).
  static std::unique_ptr<consumer> make(const std::string& center, const identity& user, channel_layer& layer,
                                        gateway_stats& stats);

  void on_receive(consumer_socket& socket, std::string_view text) override;
};

}  // namespace sb::gateway
