// anonymous_auth.cpp — see anonymous_auth.hpp.
#include "gateway/anonymous_auth.hpp"

namespace sb::gateway {

std::optional<identity> anonymous_auth::authenticate(const request&) const { return identity{}; }

}  // namespace sb::gateway
