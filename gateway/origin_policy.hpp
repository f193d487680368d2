// origin_policy.hpp — which web origins may open WebSockets (like Channels'
// AllowedHostsOriginValidator).
//
// A browser always sends Origin with a WebSocket handshake, so checking it
// stops other sites' pages from using a visitor's cookies on our sockets.
// Patterns: "*" (any), "example.com" (that host), "*.example.com" (any
// subdomain), ".example.com" (the domain and its subdomains, as Django's
// ALLOWED_HOSTS), each optionally with ":port"; or a full origin
// "https://example.com[:port]" that must match scheme, host and port.
// With no patterns, the Origin's host[:port] must equal the request's Host.
// A handshake without Origin (not a browser) is allowed.
//
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sb::gateway {

class origin_policy {
 public:
  explicit origin_policy(std::vector<std::string> patterns = {});
  // `origin` empty = no Origin header; `host` = the request's Host header.
  bool allowed(std::string_view origin, std::string_view host) const;

 private:
  std::vector<std::string> patterns_;  // lower case
};

}  // namespace sb::gateway
