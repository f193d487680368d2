// django_scope.hpp — the ASGI websocket scope a Django worker gets with
// switchboard.connect (docs/protocol.md, Part 3): what daphne would build
// for the same handshake, as msgpack.
//
// Built once per handshake, before the consumer is asked; the worker's
// switchboard_django turns it back into the scope dict its consumer sees
// (headers as bytes pairs, names lowercased, in request order; the client
// address after --trusted-proxy; url_route from the route's pattern).
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sb::gateway {

struct django_scope {
  std::string scheme = "ws";  // "wss" behind the gateway's TLS (or a trusted proxy's https)
  std::string path;           // percent-decoded
  std::string raw_path;       // as sent, without the query
  std::string query_string;   // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased here, in request order
  std::pair<std::string, std::uint16_t> client;
  std::pair<std::string, std::uint16_t> server;
  std::vector<std::string> subprotocols;  // Sec-WebSocket-Protocol, split on commas, trimmed
  std::vector<std::pair<std::string, std::string>> kwargs;  // url_route kwargs, in pattern order

  // The scope as a msgpack map (docs/protocol.md, Part 3, SCOPE).
  std::string to_msgpack() const;
};

// Sec-WebSocket-Protocol values (comma-separated tokens, maybe several headers) in order.
void add_subprotocols(std::string_view header_value, std::vector<std::string>& out);

}  // namespace sb::gateway
