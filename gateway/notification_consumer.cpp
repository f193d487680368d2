// notification_consumer.cpp — see notification_consumer.hpp.
#include "gateway/notification_consumer.hpp"

#include "common/names.hpp"

namespace sb::gateway {

notification_consumer::notification_consumer(const std::string& center, channel_layer& layer, gateway_stats& stats)
    : consumer(common::group_for("notification", center), layer, stats) {}

std::unique_ptr<consumer> notification_consumer::make(const std::string& center, const identity&,
                                                      channel_layer& layer, gateway_stats& stats) {
  return std::make_unique<notification_consumer>(center, layer, stats);
}

void notification_consumer::on_receive(consumer_socket& socket, std::string_view text) {
  if (common::is_ping_frame(text)) return reply_pong(socket);
  reply_error(socket, {"not_accepted", "notification sockets only receive"});
}

}  // namespace sb::gateway
