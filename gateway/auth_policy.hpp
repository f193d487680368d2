// auth_policy.hpp — who opens a WebSocket, decided before the upgrade.
//
// Beside origin_policy: http_session asks it about every WebSocket
// handshake after the Origin check and before the join; a refusal is a
// 403 (400 for a malformed query) like a foreign Origin, counted by
// reason. The identity it yields is handed to the route's consumer
// factory; the chat consumer stamps it on every message it sends
// (docs/architecture.md, rule 13). The policy is token_auth: signed
// tokens when --jwt-secret is set, guests when --anonymous allows.
//
// Threading: authenticate() is const and may run on any I/O thread at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sb::gateway {

// Who a socket is. A token's user: id = the `sub` claim, name = `name`
// (default: the id). A guest: id = name = "guest-" + 8 hex digits, unique
// per connection of this gateway process (docs/protocol.md, Identity).
struct identity {
  std::string id;
  std::string name;
  bool guest = true;
};

// Why a handshake was refused; each one a label of
// switchboard_gateway_auth_refusals_total (docs/operations.md, Metrics).
enum class auth_refusal : std::uint8_t {
  missing,        // no token, and --anonymous deny
  malformed,      // not three base64url parts, bad JSON, not an object
  too_large,      // token or its JSON over the bounds (common/limits.hpp)
  alg,            // a header alg other than HS256 (alg none included)
  signature,      // the HMAC does not match
  expired,        // exp (plus the leeway) has passed
  not_yet_valid,  // nbf is still (beyond the leeway) in the future
  claims,         // a claim missing or of the wrong type or size
  room,           // the token's rooms do not include this route's room
  no_secret,      // a token given to a gateway without --jwt-secret
  duplicate,      // token given twice in the query (400)
  count_
};
inline constexpr std::size_t auth_refusal_count = static_cast<std::size_t>(auth_refusal::count_);
std::string_view auth_refusal_name(auth_refusal r);

// A refusal: the metric label, the HTTP status and one line for the body.
struct auth_denial {
  auth_refusal reason = auth_refusal::missing;
  std::string detail;
  unsigned status() const { return reason == auth_refusal::duplicate ? 400 : 403; }
};

struct auth_decision {
  std::optional<identity> user;  // set: let in
  auth_denial denial;            // when !user
};

class auth_policy {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;

  virtual ~auth_policy() = default;
  // The identity the handshake proves for `room` (the route's first
  // kwarg, decoded; empty for a route without one), or why not.
  virtual auth_decision authenticate(const request& req, std::string_view room) const = 0;
  // A fresh guest identity (a socket an auth=django gate let in without a user).
  virtual identity guest() const = 0;
};

}  // namespace sb::gateway
