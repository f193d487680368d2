// jwt_verifier.cpp — see jwt_verifier.hpp.
#include "gateway/jwt_verifier.hpp"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64.hpp"
#include "common/limits.hpp"

namespace sb::gateway {
namespace {

namespace lim = common::limits;
using json = nlohmann::json;

jwt_result deny(auth_refusal r, std::string detail) {
  jwt_result out;
  out.denial = {r, std::move(detail)};
  return out;
}

bool is_b64url(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// base64url without padding (RFC 7515, section 2).
bool b64url_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;
  std::string padded(in);
  padded.append((4 - in.size() % 4) % 4, '=');
  return common::base64_decode(padded, out, common::base64_alphabet::url);
}

std::string b64url_encode(std::string_view in) {
  std::string s = common::base64_encode(in, common::base64_alphabet::url);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// Parses a token part's JSON within the depth and item bounds; nullopt
// with `r` set when it is not a JSON object or breaks a bound.
std::optional<json> parse_bounded(std::string_view text, auth_refusal& r) {
  if (text.size() > lim::max_token_json_bytes) {
    r = auth_refusal::too_large;
    return std::nullopt;
  }
  std::size_t items = 0;
  bool over = false;
  auto cb = [&](int depth, json::parse_event_t ev, json&) {
    if (ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) {
      if (static_cast<std::size_t>(depth) >= lim::max_token_json_depth) over = true;
    } else if (ev == json::parse_event_t::key || ev == json::parse_event_t::value) {
      if (++items > 2 * lim::max_token_json_items) over = true;  // a key and its value count once each
    }
    return !over;
  };
  json j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (over) {
    r = auth_refusal::too_large;
    return std::nullopt;
  }
  if (j.is_discarded() || !j.is_object()) {
    r = auth_refusal::malformed;
    return std::nullopt;
  }
  return j;
}

// A NumericDate (RFC 7519, section 2): any JSON number, fractions cut.
std::optional<std::int64_t> numeric_date(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? std::numeric_limits<std::int64_t>::max()
                                                                                    : static_cast<std::int64_t>(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
    if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// Reads the claims of a token whose signature is good.
jwt_result read_claims(const json& c) {
  jwt_claims out;
  const auto sub = c.find("sub");
  if (sub == c.end()) return deny(auth_refusal::claims, "token has no sub claim");
  if (sub->is_string()) {
    out.sub = sub->get<std::string>();
  } else if (sub->is_number_integer()) {
    out.sub = sub->dump();
  } else {
    return deny(auth_refusal::claims, "sub must be a string or an integer");
  }
  if (out.sub.empty() || out.sub.size() > lim::max_user_id_bytes) {
    return deny(auth_refusal::claims, "sub must be 1-" + std::to_string(lim::max_user_id_bytes) + " bytes");
  }
  out.name = out.sub;
  if (const auto name = c.find("name"); name != c.end()) {
    if (!name->is_string()) return deny(auth_refusal::claims, "name must be a string");
    out.name = name->get<std::string>();
    if (out.name.empty() || out.name.size() > lim::max_user_name_bytes) {
      return deny(auth_refusal::claims, "name must be 1-" + std::to_string(lim::max_user_name_bytes) + " bytes");
    }
  }
  const auto exp = c.find("exp");
  if (exp == c.end()) return deny(auth_refusal::claims, "token has no exp claim");
  const auto exp_v = numeric_date(*exp);
  if (!exp_v) return deny(auth_refusal::claims, "exp must be a number");
  out.exp = *exp_v;
  if (const auto nbf = c.find("nbf"); nbf != c.end()) {
    out.nbf = numeric_date(*nbf);
    if (!out.nbf) return deny(auth_refusal::claims, "nbf must be a number");
  }
  if (const auto rooms = c.find("rooms"); rooms != c.end()) {
    if (!rooms->is_array()) return deny(auth_refusal::claims, "rooms must be an array of strings");
    if (rooms->size() > lim::max_token_rooms) {
      return deny(auth_refusal::claims, "rooms has over " + std::to_string(lim::max_token_rooms) + " entries");
    }
    out.rooms.emplace();
    for (const auto& r : *rooms) {
      if (!r.is_string()) return deny(auth_refusal::claims, "rooms must be an array of strings");
      const auto& s = r.get_ref<const std::string&>();
      if (s.empty() || s.size() > lim::max_token_room_bytes) {
        return deny(auth_refusal::claims, "a rooms entry must be 1-" + std::to_string(lim::max_token_room_bytes) + " bytes");
      }
      out.rooms->push_back(s);
    }
  }
  jwt_result ok;
  ok.claims = std::move(out);
  return ok;
}

}  // namespace

jwt_verifier::jwt_verifier(std::string secret, int leeway_s) : secret_(std::move(secret)), leeway_s_(leeway_s) {}

jwt_result jwt_verifier::verify(std::string_view token, std::int64_t now_s) const {
  if (token.size() > lim::max_token_bytes) {
    return deny(auth_refusal::too_large, "token over " + std::to_string(lim::max_token_bytes) + " bytes");
  }
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return deny(auth_refusal::malformed, "token must be three base64url parts joined by '.'");
  }
  const auto head_b64 = token.substr(0, dot1);
  const auto body_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto sig_b64 = token.substr(dot2 + 1);
  std::string head_text, body_text, sig;
  if (!is_b64url(head_b64) || !is_b64url(body_b64) || !is_b64url(sig_b64) || !b64url_decode(head_b64, head_text) ||
      !b64url_decode(body_b64, body_text) || !b64url_decode(sig_b64, sig)) {
    return deny(auth_refusal::malformed, "token parts must be base64url without padding");
  }
  auth_refusal why{};
  const auto head = parse_bounded(head_text, why);
  if (!head) return deny(why, "token header is not a small JSON object");
  const auto alg = head->find("alg");
  if (alg == head->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256") {
    return deny(auth_refusal::alg, "token alg must be HS256");
  }
  if (head->contains("crit")) return deny(auth_refusal::malformed, "token header extensions (crit) are not supported");
  // The signature before anything in the claims is believed.
  const std::string want = hmac_sha256(secret_, token.substr(0, dot2));
  if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0) {
    return deny(auth_refusal::signature, "token signature does not match");
  }
  const auto claims = parse_bounded(body_text, why);
  if (!claims) return deny(why, "token claims are not a small JSON object");
  auto out = read_claims(*claims);
  if (!out.claims) return out;
  // Against now, never exp, moved by the leeway: a huge exp cannot wrap round.
  const auto leeway = static_cast<std::int64_t>(leeway_s_);
  if (out.claims->exp <= now_s - leeway) {
    return deny(auth_refusal::expired, "token expired");
  }
  if (out.claims->nbf && *out.claims->nbf > now_s + leeway) return deny(auth_refusal::not_yet_valid, "token not valid yet (nbf)");
  return out;
}

bool jwt_verifier::room_matches(std::string_view pattern, std::string_view room) {
  // Greedy match with one backtrack point (the last '*'): O(pattern * room)
  // at worst, both bounded (common/limits.hpp), and patterns come only
  // from signed tokens.
  std::size_t p = 0, r = 0, star = std::string_view::npos, mark = 0;
  while (r < room.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = r;
    } else if (p < pattern.size() && pattern[p] == room[r]) {
      ++p;
      ++r;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      r = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string jwt_verifier::sign(std::string_view secret, std::string_view header_json, std::string_view claims_json) {
  std::string signing_input = b64url_encode(header_json) + "." + b64url_encode(claims_json);
  const std::string mac = hmac_sha256(secret, signing_input);
  return signing_input + "." + b64url_encode(mac);
}

}  // namespace sb::gateway
