// token_auth.cpp — see token_auth.hpp.
#include "gateway/token_auth.hpp"

#include <chrono>
#include <cstdio>

#include "common/names.hpp"
#include "gateway/query_param.hpp"

namespace sb::gateway {
namespace {

auth_decision refuse(auth_refusal r, std::string detail) {
  auth_decision d;
  d.denial = {r, std::move(detail)};
  return d;
}

// A bijection of 32-bit numbers (each step is invertible), keyed.
std::uint32_t permute(std::uint32_t x, std::uint32_t a, std::uint32_t b) {
  x ^= a;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x += b;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace

token_auth::token_auth(std::string secret, int leeway_s, bool allow_anonymous, std::uint64_t guest_key)
    : anonymous_(allow_anonymous), key_a_(static_cast<std::uint32_t>(guest_key)),
      key_b_(static_cast<std::uint32_t>(guest_key >> 32)) {
  if (!secret.empty()) verifier_.emplace(std::move(secret), leeway_s);
}

identity token_auth::guest() const {
  const auto n = permute(guests_.fetch_add(1, std::memory_order_relaxed), key_a_, key_b_);
  char buf[16];
  std::snprintf(buf, sizeof buf, "guest-%08x", static_cast<unsigned>(n));
  return identity{buf, buf, true};
}

auth_decision token_auth::authenticate(const request& req, std::string_view room) const {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return authenticate_target(std::string_view(req.target().data(), req.target().size()), room, now.count());
}

auth_decision token_auth::authenticate_target(std::string_view target, std::string_view room, std::int64_t now_s) const {
  const auto param = find_query_param(target, "token");
  if (param.count > 1) return refuse(auth_refusal::duplicate, "token given more than once");
  if (param.count == 0) {
    if (!anonymous_) return refuse(auth_refusal::missing, "a token is required");
    auth_decision d;
    d.user = guest();
    return d;
  }
  if (!verifier_) return refuse(auth_refusal::no_secret, "this gateway does not take tokens");
  if (!param.value) return refuse(auth_refusal::malformed, "token is not percent-encoded correctly");
  auto checked = verifier_->verify(*param.value, now_s);
  if (!checked.claims) {
    auth_decision d;
    d.denial = std::move(checked.denial);
    return d;
  }
  auto& c = *checked.claims;
  if (c.rooms) {
    bool found = false;
    for (const auto& p : *c.rooms) {
      if (!room.empty() && jwt_verifier::room_matches(p, room)) {
        found = true;
        break;
      }
    }
    if (!found) return refuse(auth_refusal::room, "token does not allow this room");
  }
  auth_decision d;
  d.user = identity{std::move(c.sub), std::move(c.name), false};
  return d;
}

}  // namespace sb::gateway
