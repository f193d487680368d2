// ws_handshake.cpp — see ws_handshake.hpp.
#include "gateway/ws_handshake.hpp"

#include <cctype>

#include "common/base64.hpp"
#include "common/digest.hpp"

namespace http = boost::beast::http;

namespace sb::gateway::ws {
namespace {

// True if the comma-separated header value has `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.size() == token.size()) {
      bool same = true;
      for (std::size_t i = 0; i < item.size() && same; ++i) {
        same = std::tolower(static_cast<unsigned char>(item[i])) == std::tolower(static_cast<unsigned char>(token[i]));
      }
      if (same) return true;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view sv(boost::beast::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace

std::string base64_encode(std::string_view bytes) { return common::base64_encode(bytes); }

bool base64_decode(std::string_view in, std::string& out) { return common::base64_decode(in, out); }

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const auto digest = common::sha1_digest(input);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool wants_websocket(const http::request<http::string_body>& req) {
  return has_token(sv(req[http::field::upgrade]), "websocket");
}

upgrade_check check_upgrade(const http::request<http::string_body>& req) {
  upgrade_check r;
  if (req.method() != http::verb::get) {
    r.error = "a WebSocket handshake must be a GET";
    return r;
  }
  if (req.version() < 11) {
    r.error = "a WebSocket handshake needs HTTP/1.1";
    return r;
  }
  if (!has_token(sv(req[http::field::upgrade]), "websocket")) {
    r.error = "missing Upgrade: websocket";
    return r;
  }
  if (!has_token(sv(req[http::field::connection]), "upgrade")) {
    r.error = "missing Connection: Upgrade";
    return r;
  }
  if (sv(req[http::field::sec_websocket_version]) != "13") {
    r.status = 426;
    r.error = "only WebSocket version 13 is supported";
    return r;
  }
  const std::string_view key = sv(req[http::field::sec_websocket_key]);
  std::string raw;
  if (!base64_decode(key, raw) || raw.size() != 16) {
    r.error = "Sec-WebSocket-Key must be 16 bytes in base64";
    return r;
  }
  r.ok = true;
  r.accept = accept_key(key);
  return r;
}

std::string switching_protocols(std::string_view accept, std::string_view protocol) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Server: switchboard\r\n"
      "Sec-WebSocket-Accept: ";
  out += accept;
  if (!protocol.empty()) {
    out += "\r\nSec-WebSocket-Protocol: ";
    out += protocol;
  }
  out += "\r\n\r\n";
  return out;
}

}  // namespace sb::gateway::ws
