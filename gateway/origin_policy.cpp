// origin_policy.cpp — see origin_policy.hpp.
#include "gateway/origin_policy.hpp"

#include <algorithm>
#include <cctype>

namespace sb::gateway {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

struct parsed {
  std::string scheme, host, port;  // port empty when absent
};

// "scheme://host[:port]" (an Origin) or "host[:port]" (a Host header).
bool parse(std::string_view s, parsed& out, bool with_scheme) {
  if (with_scheme) {
    const auto sep = s.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    out.scheme = lower(s.substr(0, sep));
    s.remove_prefix(sep + 3);
  }
  if (s.empty() || s.find('/') != std::string_view::npos) return false;
  if (s.front() == '[') {  // IPv6 literal
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    out.host = lower(s.substr(0, close + 1));
    s.remove_prefix(close + 1);
    if (!s.empty()) {
      if (s.front() != ':') return false;
      out.port = std::string(s.substr(1));
    }
    return true;
  }
  const auto colon = s.rfind(':');
  out.host = lower(s.substr(0, colon));
  if (colon != std::string_view::npos) out.port = std::string(s.substr(colon + 1));
  return !out.host.empty();
}

std::string default_port(const std::string& scheme) {
  return scheme == "https" || scheme == "wss" ? "443" : "80";
}

bool host_matches(const std::string& pattern_host, const std::string& host) {
  if (pattern_host == "*") return true;
  if (pattern_host.rfind("*.", 0) == 0) {
    const std::string suffix = pattern_host.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  if (!pattern_host.empty() && pattern_host.front() == '.') {
    const std::string bare = pattern_host.substr(1);
    return host == bare || (host.size() > pattern_host.size() &&
                            host.compare(host.size() - pattern_host.size(), pattern_host.size(), pattern_host) == 0);
  }
  return pattern_host == host;
}

}  // namespace

origin_policy::origin_policy(std::vector<std::string> patterns) {
  for (auto& p : patterns) patterns_.push_back(lower(p));
}

bool origin_policy::allowed(std::string_view origin, std::string_view host) const {
  if (origin.empty()) return true;  // not a browser
  if (std::find(patterns_.begin(), patterns_.end(), "*") != patterns_.end()) return true;
  parsed o;
  if (!parse(origin, o, true)) return false;  // includes "null"
  const std::string o_port = o.port.empty() ? default_port(o.scheme) : o.port;
  if (patterns_.empty()) {
    parsed h;
    if (!parse(host, h, false)) return false;
    const std::string h_port = h.port.empty() ? default_port(o.scheme) : h.port;
    return h.host == o.host && h_port == o_port;
  }
  for (const auto& p : patterns_) {
    if (p == "*") return true;
    parsed want;
    const bool full = p.find("://") != std::string::npos;
    if (!parse(p, want, full)) continue;
    if (full && want.scheme != o.scheme) continue;
    if (!host_matches(want.host, o.host)) continue;
    if (!want.port.empty() && want.port != o_port) continue;
    if (full && want.port.empty() && o_port != default_port(o.scheme)) continue;
    return true;
  }
  return false;
}

}  // namespace sb::gateway
