// chat_consumer.cpp — see chat_consumer.hpp.
#include "gateway/chat_consumer.hpp"

#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"

namespace sb::gateway {

chat_consumer::chat_consumer(const std::string& room, identity user, channel_layer& layer, gateway_stats& stats)
    : consumer(common::group_for("chat", room), layer, stats), user_(std::move(user)) {}

std::unique_ptr<consumer> chat_consumer::make(const std::string& room, const identity& user, channel_layer& layer,
                                              gateway_stats& stats) {
  return std::make_unique<chat_consumer>(room, user, layer, stats);
}

void chat_consumer::on_connect(consumer_socket& socket, channel_layer::join_callback accept) {
  if (user_.id.empty()) return consumer::on_connect(socket, std::move(accept));  // nobody to count
  layer_.group_add_as(group(), socket.channel(), proto::presence_user{user_.id, user_.name, user_.guest, presence_watch()},
                      std::move(accept));
}

void chat_consumer::on_receive(consumer_socket& socket, std::string_view text) {
  const common::chat_sender sender{user_.id, user_.name, user_.guest};
  auto parsed = common::chat_event_from_browser(text, &sender);
  if (!parsed.ok) {
    static common::log_limiter limit;
    common::warn_limited(limit, "ws", "bad frame channel={} code={} detail=\"{}\"", socket.channel(), parsed.error.code,
                            parsed.error.detail);
    return reply_error(socket, parsed.error);
  }
  if (parsed.ping) return reply_pong(socket);  // this socket only: nothing reaches the group
  if (!layer_.group_send(group(), std::move(parsed.event))) {
    // Refused by the layer link (its bound on sends not yet acknowledged
    // by layerd, which counts and logs it): never silent (docs/architecture.md, rule 7).
    reply_error(socket, common::client_error{"overloaded", "the message was not sent: the server is busy; retry"});
  }
}

}  // namespace sb::gateway
