// ws_handshake.hpp — validating a WebSocket upgrade and writing the 101.
//
// Beast parses the HTTP request; this checks what RFC 6455 4.2.1 requires
// of it and builds the response bytes, so the socket can switch to the
// gateway's own frame layer right after. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

namespace sb::gateway::ws {

struct upgrade_check {
  bool ok = false;
  unsigned status = 400;  // when !ok: 400, or 426 for an unsupported version
  std::string error;      // when !ok
  std::string accept;     // Sec-WebSocket-Accept, when ok
};

// True when the request asks for a WebSocket (Upgrade: websocket), valid or not.
bool wants_websocket(const boost::beast::http::request<boost::beast::http::string_body>& req);

upgrade_check check_upgrade(const boost::beast::http::request<boost::beast::http::string_body>& req);

// base64(SHA-1(key + the RFC's GUID))
std::string accept_key(std::string_view client_key);

// The complete "101 Switching Protocols" response.
// `protocol` non-empty: the Sec-WebSocket-Protocol the server chose (one the client offered).
std::string switching_protocols(std::string_view accept, std::string_view protocol = {});

std::string base64_encode(std::string_view bytes);
// nullopt-free: returns false when `in` is not canonical base64.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace sb::gateway::ws
