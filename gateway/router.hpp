// router.hpp — URL → what serves it, like Django's urls.py and routing.py.
//
// Pure function of the request target, so it is tested without sockets.
// WebSocket paths map to a consumer factory (router.cpp's table, Django's
// websocket_urlpatterns): http_session builds the route's consumer and
// hands it to the websocket_session; it never knows which consumer it is.
// Path segments are percent-decoded and must be valid UTF-8; WebSocket
// room names must be Python \w words (see common/names.hpp), otherwise the
// handshake is refused with 404 as Django's URLRouter would.
#pragma once

#include <string>
#include <string_view>

#include "gateway/consumer.hpp"

namespace sb::gateway {

struct route {
  enum class kind {
    redirect_to_chat,  // "/"
    index_page,        // "/chat/"
    room_page,         // "/chat/<room>/"
    healthz,           // "/healthz"
    metrics,           // "/metrics"
    websocket,         // "/ws/chat/<room>/", "/ws/notification/<center>/": make_consumer set
    ws_not_found,      // "/ws/..." that matches no consumer
    not_found,
  };
  kind what = kind::not_found;
  std::string room;  // decoded: the room (room_page, websocket) or the notification center
  consumer::factory make_consumer = nullptr;  // websocket only
};

route match_route(std::string_view target);

}  // namespace sb::gateway
