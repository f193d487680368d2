// auth_policy.cpp — see auth_policy.hpp.
#include "gateway/auth_policy.hpp"

namespace sb::gateway {

std::string_view auth_refusal_name(auth_refusal r) {
  switch (r) {
    case auth_refusal::missing: return "missing";
    case auth_refusal::malformed: return "malformed";
    case auth_refusal::too_large: return "too_large";
    case auth_refusal::alg: return "alg";
    case auth_refusal::signature: return "signature";
    case auth_refusal::expired: return "expired";
    case auth_refusal::not_yet_valid: return "not_yet_valid";
    case auth_refusal::claims: return "claims";
    case auth_refusal::room: return "room";
    case auth_refusal::no_secret: return "no_secret";
    case auth_refusal::duplicate: return "duplicate";
    case auth_refusal::count_: break;
  }
  return "unknown";
}

}  // namespace sb::gateway
