// router.cpp — see router.hpp.
#include "gateway/router.hpp"

#include "common/names.hpp"
#include "gateway/chat_consumer.hpp"
#include "gateway/notification_consumer.hpp"

namespace sb::gateway {
namespace {

// Django's websocket_urlpatterns: prefix + one \w segment + "/".
struct ws_pattern {
  std::string_view prefix;
  consumer::factory make;
};
constexpr ws_pattern ws_patterns[] = {
    {"/ws/chat/", &chat_consumer::make},
    {"/ws/notification/", &notification_consumer::make},
};

// If path is prefix + one segment + "/", returns the decoded segment.
bool one_segment(std::string_view path, std::string_view prefix, std::string& out) {
  if (path.size() <= prefix.size() + 1 || path.substr(0, prefix.size()) != prefix || path.back() != '/') return false;
  std::string_view seg = path.substr(prefix.size(), path.size() - prefix.size() - 1);
  if (seg.empty() || seg.find('/') != std::string_view::npos) return false;
  auto decoded = common::percent_decode(seg);
  // A '/' that arrives percent-encoded belongs to the segment (the room
  // page shows any name; only WebSocket rooms are limited to \w).
  if (!decoded || !common::decode_utf8(*decoded) || decoded->empty()) return false;
  out = std::move(*decoded);
  return true;
}

}  // namespace

route match_route(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  route r;
  if (path == "/") {
    r.what = route::kind::redirect_to_chat;
  } else if (path == "/chat/") {
    r.what = route::kind::index_page;
  } else if (path == "/healthz") {
    r.what = route::kind::healthz;
  } else if (path == "/metrics") {
    r.what = route::kind::metrics;
  } else if (one_segment(path, "/chat/", r.room)) {
    r.what = route::kind::room_page;
  } else if (path.substr(0, 4) == "/ws/") {
    r.what = route::kind::ws_not_found;
    for (const auto& p : ws_patterns) {
      if (one_segment(path, p.prefix, r.room) && common::is_valid_room_name(r.room)) {
        r.what = route::kind::websocket;
        r.make_consumer = p.make;
        return r;
      }
    }
    r.room.clear();
  }
  return r;
}

}  // namespace sb::gateway
