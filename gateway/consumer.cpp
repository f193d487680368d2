// consumer.cpp — see consumer.hpp.
#include "gateway/consumer.hpp"

#include "gateway/server_context.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {

consumer::consumer(std::string group, channel_layer& layer, gateway_stats& stats)
    : layer_(layer), stats_(stats), group_(std::move(group)) {}

void consumer::on_connect(consumer_socket& socket, channel_layer::join_callback accept) {
  layer_.group_add(group_, socket.channel(), std::move(accept));
}

void consumer::on_disconnect(consumer_socket& socket) { layer_.group_discard(group_, socket.channel()); }

common::result<std::shared_ptr<const std::string>> consumer::render(std::string_view event) {
  auto text = common::browser_frame_for_event(event);
  if (!text) return common::error{text.error_text()};
  return ws::make_shared_text(text.value());
}

void consumer::reply_error(consumer_socket& socket, const common::client_error& e) {
  stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  socket.reply(ws::make_shared_text(common::error_frame(e)));
}

void consumer::reply_pong(consumer_socket& socket) {
  static const std::shared_ptr<const std::string> pong = ws::make_shared_text(common::pong_frame);
  stats_.pings.fetch_add(1, std::memory_order_relaxed);
  socket.reply(pong);
}

}  // namespace sb::gateway
