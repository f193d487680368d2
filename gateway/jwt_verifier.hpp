// jwt_verifier.hpp — checks an HS256 JSON Web Token and reads its claims.
//
// The gateway's only token format (docs/protocol.md, Identity): three
// base64url parts without padding, a header whose alg is HS256 (any other
// alg, "none" above all, is refused: the secret decides, never the
// token), the HMAC-SHA256 of "header.payload" with --jwt-secret compared
// in constant time, then the claims: `sub` (string, or an integer taken
// as its decimal string), `name` (string, default sub), `exp` (number,
// required), `nbf` (number, optional), `rooms` (array of strings,
// optional). Every bound (common/limits.hpp: token bytes, JSON bytes,
// depth, items, rooms, id and name lengths) is checked before the step
// it guards, so a token costs at most one HMAC and one parse of 4 KiB.
//
// Immutable after construction: verify() is const and pure given `now`;
// any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth_policy.hpp"

namespace sb::gateway {

struct jwt_claims {
  std::string sub;
  std::string name;  // the name claim, or sub
  std::int64_t exp = 0;
  std::optional<std::int64_t> nbf;
  std::optional<std::vector<std::string>> rooms;  // absent: every room
};

struct jwt_result {
  std::optional<jwt_claims> claims;  // set: the token is good now
  auth_denial denial;                // when !claims
};

class jwt_verifier {
 public:
  jwt_verifier(std::string secret, int leeway_s);

  // `now_s`: seconds since the epoch. exp must be > now - leeway, nbf
  // (when present) <= now + leeway.
  jwt_result verify(std::string_view token, std::int64_t now_s) const;

  // A `rooms` entry matches a room: '*' stands for any run of characters
  // (none included), every other character for itself; so "*" is every
  // room, "team_*" every room starting with "team_", "lobby" only lobby.
  static bool room_matches(std::string_view pattern, std::string_view room);

  // HS256 over "header.payload" as base64url without padding, for tests
  // and tools that mint tokens (the Django side: switchboard_django.token_for).
  static std::string sign(std::string_view secret, std::string_view header_json, std::string_view claims_json);

 private:
  std::string secret_;
  int leeway_s_;
};

}  // namespace sb::gateway
