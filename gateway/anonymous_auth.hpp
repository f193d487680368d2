// anonymous_auth.hpp — the auth_policy that lets everyone in, anonymously.
//
// The gateway has no notion of users yet; this keeps the seam in place
// (auth_policy.hpp) so a real policy replaces one object, not the handshake.
//
// Stateless; any thread.
#pragma once

#include "gateway/auth_policy.hpp"

namespace sb::gateway {

class anonymous_auth final : public auth_policy {
 public:
  std::optional<identity> authenticate(const request& req) const override;
};

}  // namespace sb::gateway
