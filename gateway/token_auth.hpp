// token_auth.hpp — the gateway's auth_policy: signed tokens and guests.
//
// A handshake's `?token=` (docs/protocol.md, Identity) is checked by
// jwt_verifier against --jwt-secret, and its rooms claim against the
// route's room; a good token is the socket's user. Without a token the
// socket is a guest when --anonymous allows (the default without a
// secret), else refused. A token that fails is always refused, even where
// guests are welcome: a user who meant to sign in never silently becomes
// somebody else. A token given to a gateway without a secret is refused
// too (it could not be checked).
//
// Guests are "guest-" + 8 hex digits: a counter run through a keyed
// permutation of 32-bit numbers, so no two connections of one process get
// the same name (for 2^32 connections) and names do not give away how
// many came before. Different gateways have different keys.
//
// Immutable after construction except the guest counter (atomic):
// authenticate() may run on any I/O thread at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/auth_policy.hpp"
#include "gateway/jwt_verifier.hpp"

namespace sb::gateway {

class token_auth final : public auth_policy {
 public:
  // `secret` empty: tokens are off. `guest_key` seeds the guest names.
  token_auth(std::string secret, int leeway_s, bool allow_anonymous, std::uint64_t guest_key);

  auth_decision authenticate(const request& req, std::string_view room) const override;
  // The same for a request target (path and query) at `now_s` (tests).
  auth_decision authenticate_target(std::string_view target, std::string_view room, std::int64_t now_s) const;

  identity guest() const override;

 private:
  std::optional<jwt_verifier> verifier_;
  bool anonymous_;
  std::uint32_t key_a_;
  std::uint32_t key_b_;
  mutable std::atomic<std::uint32_t> guests_{0};
};

}  // namespace sb::gateway
