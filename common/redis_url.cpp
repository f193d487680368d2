// redis_url.cpp — see redis_url.hpp.
#include "common/redis_url.hpp"

#include <charconv>

namespace sb::common {
namespace {

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  if (s.empty()) return false;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

result<redis_url> parse_redis_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) return error{"redis URL must start with redis://"};
  std::string_view rest = url.substr(scheme.size());
  redis_url out;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) cred = cred.substr(colon + 1);
    out.password = std::string(cred);
  }
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, out.db)) return error{"bad database number in redis URL"};
  }
  if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    if (!parse_int(hostport.substr(colon + 1), 1, 65535, out.port)) return error{"bad port in redis URL"};
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return error{"missing host in redis URL"};
  out.host = std::string(hostport);
  return out;
}

result<std::vector<redis_url>> parse_redis_urls(const std::vector<std::string>& urls) {
  if (urls.empty()) return error{"at least one redis URL is needed"};
  std::vector<redis_url> out;
  out.reserve(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    auto u = parse_redis_url(urls[i]);
    if (!u) {
      // Echo the entry so the operator sees which one, but never a password.
      std::string shown = urls[i];
      if (auto at = shown.rfind('@'), start = shown.find("://"); at != std::string::npos && start != std::string::npos &&
                                                                  start + 3 <= at) {
        shown.replace(start + 3, at - start - 3, "***");
      }
      return error{std::string("redis URL #").append(std::to_string(i + 1)).append(" (").append(shown).append(
          "): ").append(u.error_text())};
    }
    out.push_back(std::move(u.value()));
  }
  return out;
}

std::string describe(const redis_url& url) {
  return std::string(url.host).append(":").append(std::to_string(url.port)).append("/").append(
      std::to_string(url.db));
}

}  // namespace sb::common
