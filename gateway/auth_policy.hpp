// auth_policy.hpp — who opens a WebSocket, decided before the upgrade.
//
// Beside origin_policy: http_session asks it about every WebSocket
// handshake after the Origin check and before the join; a refusal is a
// 403 like a foreign Origin. The identity it yields is handed to the
// route's consumer factory (Django's scope["user"]). Today the only
// policy is anonymous_auth (everyone, anonymously).
//
// Threading: authenticate() is const and may run on any I/O thread at once.
#pragma once

#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sb::gateway {

struct identity {
  std::string user;  // empty: anonymous
  bool anonymous() const { return user.empty(); }
};

class auth_policy {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;

  virtual ~auth_policy() = default;
  // The identity the handshake proves, or nullopt to refuse it.
  virtual std::optional<identity> authenticate(const request& req) const = 0;
};

}  // namespace sb::gateway
