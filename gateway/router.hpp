// router.hpp — URL → what serves it, like Django's urls.py and routing.py.
//
// Pure function of the request target, so it is tested without sockets.
// Path segments are percent-decoded and must be valid UTF-8; WebSocket
// room names must be Python \w words (see common/names.hpp), otherwise the
// handshake is refused with 404 as Django's URLRouter would.
#pragma once

#include <string>
#include <string_view>

namespace sb::gateway {

struct route {
  enum class kind {
    redirect_to_chat,  // "/"
    index_page,        // "/chat/"
    room_page,         // "/chat/<room>/"
    healthz,           // "/healthz"
    metrics,           // "/metrics"
    ws_chat,           // "/ws/chat/<room>/"
    ws_notification,   // "/ws/notification/<center>/"
    ws_not_found,      // "/ws/..." that matches no consumer
    not_found,
  };
  kind what = kind::not_found;
  std::string room;  // decoded: the room (room_page, ws_chat) or the center (ws_notification)
};

route match_route(std::string_view target);

}  // namespace sb::gateway
