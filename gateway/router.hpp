// router.hpp — URL → what serves it, like Django's urls.py and routing.py.
//
// Pure function of the request target and the route table, so it is tested
// without sockets. A route of kind django:NAME hands its sockets to the
// Django app's own consumer run by `runworker NAME` (django_consumer.hpp);
// its pattern may have any number of <name> segments, all passed on as
// the scope's url_route kwargs. A built-in route may name a Django
// consumer as its gate, "PATTERN chat auth=django:NAME": that consumer's
// connect() accepts or refuses each socket and names its user, and the
// built-in consumer serves it after (docs/protocol.md, Part 3, Gates).
// WebSocket paths map to a consumer factory through the
// table built from --route (Django's websocket_urlpatterns; defaults below):
// http_session builds the route's consumer and hands it to the
// websocket_session; it never knows which consumer it is. Path segments are
// percent-decoded and must be valid UTF-8; a pattern's <name> segment must
// be a Python \w word of 1-100 code points (see common/names.hpp), otherwise
// the handshake is refused with 404 as Django's URLRouter would.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/consumer.hpp"

namespace sb::gateway {

// One `<name>` of a matched pattern and its decoded value (Django's
// scope["url_route"]["kwargs"]).
struct route_kwarg {
  std::string name;
  std::string value;
};

struct route {
  enum class kind {
    redirect_to_chat,    // "/"
    index_page,          // "/chat/": the chat page's room list (gateway/pages/chat_index.html)
    room_page,           // "/chat/<room>/": the chat page (gateway/pages/chat_room.html)
    classic_index_page,  // "/classic/chat/": the seed's index.html
    classic_room_page,   // "/classic/chat/<room>/": the seed's room.html
    ws_check,            // "/ws-check/<ws path and query>": would that handshake be let in?
    healthz,           // "/healthz"
    metrics,           // "/metrics"
    presence_api,      // "/api/presence" (?group=G: who is in G)
    websocket,         // a --route pattern under "/ws/" matched: make_consumer set
    ws_not_found,      // "/ws/..." that matches no route
    not_found,
  };
  kind what = kind::not_found;
  std::string room;  // decoded: the room page's room, or a built-in consumer's single kwarg (room or center)
  consumer::factory make_consumer = nullptr;  // websocket only (a built-in kind)
  std::string django_channel;                 // websocket only (kind django:NAME): NAME, the worker channel
  std::string gate_channel;                   // websocket only (a built-in kind with auth=django:NAME): NAME
  std::vector<route_kwarg> kwargs;            // websocket only, in pattern order
};

// The WebSocket routes, tried in order (first match wins). Built once at
// start-up from --route values ("PATTERN KIND"); read-only afterwards.
class route_table {
 public:
  // Default --route values: today's /ws/chat/ and /ws/notification/ paths.
  static const std::vector<std::string>& default_specs();
  static const route_table& defaults();

  // Parses --route values; nullopt with `error` set (naming the bad value
  // and why) when one is refused. An empty list is refused too.
  static std::optional<route_table> parse(const std::vector<std::string>& specs, std::string& error);

  struct segment {
    bool is_name = false;
    std::string text;  // literal bytes, or the kwarg name
  };
  struct entry {
    std::vector<segment> segments;  // between the slashes of the pattern
    consumer::factory make = nullptr;  // a built-in kind
    std::string django_channel;        // kind django:NAME (docs/protocol.md, Part 3): NAME
    std::string gate_channel;          // a built-in kind's auth=django:NAME: the consumer that admits sockets
  };
  const std::vector<entry>& entries() const { return entries_; }

  // At most this many routes: every handshake may try each one.
  static constexpr std::size_t max_routes = 64;

 private:
  std::vector<entry> entries_;
};

route match_route(std::string_view target, const route_table& routes = route_table::defaults());

}  // namespace sb::gateway
