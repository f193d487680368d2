// redis_url.cpp — see redis_url.hpp.
#include "common/redis_url.hpp"

#include <algorithm>
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

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes in a query value, so a password may hold any byte.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// A master name as Sentinel's configuration takes it: one word.
bool good_master_name(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c < 127 && c != '/' && c != '?' && c != '#' && c != ',' && c != '@' && c != '%';
  });
}

result<redis_url> parse_sentinel_url(std::string_view rest) {
  redis_url out;
  if (rest.find('@') != std::string_view::npos) {
    return error{"sentinel URL takes no user or password before the hosts: use ?password= (the master's) and "
                 "?sentinel_password= (the sentinels')"};
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return error{"missing master name in sentinel URL (sentinel://host:port/mymaster)"};
  std::string_view hosts = rest.substr(0, slash);
  std::string_view name = rest.substr(slash + 1);
  if (name.empty()) return error{"missing master name in sentinel URL (sentinel://host:port/mymaster)"};
  if (!good_master_name(name)) return error{"bad master name in sentinel URL"};
  out.master_name = std::string(name);
  if (hosts.empty()) return error{"missing sentinel host in sentinel URL"};
  while (true) {
    const auto comma = hosts.find(',');
    std::string_view one = hosts.substr(0, comma);
    redis_endpoint e{"", default_sentinel_port};
    if (auto colon = one.rfind(':'); colon != std::string_view::npos) {
      if (!parse_int(one.substr(colon + 1), 1, 65535, e.port)) return error{"bad sentinel port in sentinel URL"};
      one = one.substr(0, colon);
    }
    if (one.empty()) return error{"missing sentinel host in sentinel URL"};
    e.host = std::string(one);
    if (std::find(out.sentinels.begin(), out.sentinels.end(), e) != out.sentinels.end()) {
      return error{"sentinel listed twice in sentinel URL"};
    }
    if (out.sentinels.size() == max_sentinels_per_shard) {
      return error{"more than " + std::to_string(max_sentinels_per_shard) + " sentinels in sentinel URL"};
    }
    out.sentinels.push_back(std::move(e));
    if (comma == std::string_view::npos) break;
    hosts = hosts.substr(comma + 1);
  }
  bool seen_db = false, seen_pw = false, seen_spw = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return error{"bad query in sentinel URL (want key=value)"};
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    auto once = [&](bool& seen) {
      if (seen) return false;
      seen = true;
      return true;
    };
    if (key == "db") {
      if (!once(seen_db)) return error{"db given twice in sentinel URL"};
      if (!parse_int(value, 0, 1 << 20, out.db)) return error{"bad database number in sentinel URL"};
    } else if (key == "password") {
      if (!once(seen_pw)) return error{"password given twice in sentinel URL"};
      if (!percent_decode(value, out.password)) return error{"bad %-escape in sentinel URL password"};
    } else if (key == "sentinel_password") {
      if (!once(seen_spw)) return error{"sentinel_password given twice in sentinel URL"};
      if (!percent_decode(value, out.sentinel_password)) return error{"bad %-escape in sentinel URL sentinel_password"};
    } else {
      return error{"unknown key in sentinel URL query (db, password, sentinel_password)"};
    }
  }
  out.host.clear();
  out.port = 0;
  return out;
}

// The entry as typed, with every password replaced by ***.
std::string hide_passwords(std::string shown) {
  if (auto at = shown.rfind('@'), start = shown.find("://"); at != std::string::npos && start != std::string::npos &&
                                                              start + 3 <= at) {
    shown.replace(start + 3, at - start - 3, "***");
  }
  if (auto q = shown.find('?'); q != std::string::npos) {
    for (std::size_t pos = q + 1; pos < shown.size();) {
      const auto amp = std::min(shown.find('&', pos), shown.size());
      const auto eq = shown.find('=', pos);
      if (eq != std::string::npos && eq < amp) {
        const std::string_view key(shown.data() + pos, eq - pos);
        if (key == "password" || key == "sentinel_password") {
          shown.replace(eq + 1, amp - eq - 1, "***");
          pos = eq + 1 + 3 + 1;
          continue;
        }
      }
      pos = amp + 1;
    }
  }
  return shown;
}

}  // namespace

result<redis_url> parse_redis_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  constexpr std::string_view sentinel_scheme = "sentinel://";
  if (url.substr(0, sentinel_scheme.size()) == sentinel_scheme) return parse_sentinel_url(url.substr(sentinel_scheme.size()));
  if (url.substr(0, scheme.size()) != scheme) return error{"redis URL must start with redis:// or sentinel://"};
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
      return error{std::string("redis URL #").append(std::to_string(i + 1)).append(" (").append(
          hide_passwords(urls[i])).append("): ").append(u.error_text())};
    }
    out.push_back(std::move(u.value()));
  }
  return out;
}

std::string describe(const redis_endpoint& e) { return std::string(e.host).append(":").append(std::to_string(e.port)); }

std::string describe(const redis_url& url) {
  if (url.is_sentinel()) {
    std::string out = url.master_name + "@";
    for (std::size_t i = 0; i < url.sentinels.size(); ++i) out.append(i ? "," : "").append(describe(url.sentinels[i]));
    return out.append("/").append(std::to_string(url.db));
  }
  return std::string(url.host).append(":").append(std::to_string(url.port)).append("/").append(
      std::to_string(url.db));
}

}  // namespace sb::common
