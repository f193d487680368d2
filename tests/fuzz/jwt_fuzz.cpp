// jwt_fuzz.cpp — libFuzzer target for the handshake's token check.
//
// A `?token=` is read from a query an outsider writes, and its claims are
// parsed once the signature matches (which any holder of a token can
// arrange for claims of their choosing, or the gateway's own Django can
// get wrong). The first byte picks the path: the rest as a whole request
// target (query parsing, percent-decoding, base64url, the header) or as
// claims JSON under a good signature (every claim type and bound); neither
// may crash, and a token let in must name a user within the bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/limits.hpp"
#include "gateway/token_auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::string secret = "fuzz-secret-0123456789abcdef0123456789";
  static const sb::gateway::token_auth auth(secret, 60, data[0] & 2, 1);
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string target;
  if (data[0] & 1) {
    target = "/ws/chat/lobby/?token=" + sb::gateway::jwt_verifier::sign(secret, R"({"alg":"HS256"})", rest);
  } else {
    target = "/ws/chat/lobby/?" + rest;
  }
  const auto d = auth.authenticate_target(target, "lobby", 1'800'000'000);
  if (d.user && !d.user->guest) {
    namespace lim = sb::common::limits;
    if (d.user->id.empty() || d.user->id.size() > lim::max_user_id_bytes) std::abort();
    if (d.user->name.empty() || d.user->name.size() > lim::max_user_name_bytes) std::abort();
  }
  return 0;
}
