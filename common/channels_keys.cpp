// channels_keys.cpp — see channels_keys.hpp.
#include "common/channels_keys.hpp"

#include <chrono>
#include <cstdio>

namespace sb::common {

namespace {
constexpr std::string_view group_infix = ":group:";
}

std::string channels_keys::group(std::string_view group) const {
  return std::string(prefix_).append(group_infix).append(group);
}

std::string channels_keys::pending(std::string_view group) const {
  return std::string(prefix_).append(":pending:").append(group);
}

std::string channels_keys::notification_routes(std::string_view gateway) const {
  return std::string(prefix_).append(":notification-routes:").append(gateway);
}

std::string channels_keys::inbox(std::string_view non_local_name) const {
  return std::string(prefix_).append(non_local_name);
}

std::string channels_keys::group_scan_pattern() const { return glob_escape(prefix_).append(group_infix).append("*"); }

std::optional<std::string_view> channels_keys::group_of(std::string_view key) const {
  if (key.size() <= prefix_.size() + group_infix.size()) return std::nullopt;
  if (key.substr(0, prefix_.size()) != prefix_) return std::nullopt;
  if (key.substr(prefix_.size(), group_infix.size()) != group_infix) return std::nullopt;
  return key.substr(prefix_.size() + group_infix.size());
}

double unix_now() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

std::string score_text(double unix_seconds) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6f", unix_seconds);
  return buf;
}

std::string glob_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

redis_argv zadd_member(const std::string& group_key, const std::string& score, const std::string& channel) {
  return {"ZADD", group_key, score, channel};
}

redis_argv expire(const std::string& key, int seconds) { return {"EXPIRE", key, std::to_string(seconds)}; }

redis_argv zrem_member(const std::string& group_key, const std::string& channel) {
  return {"ZREM", group_key, channel};
}

redis_argv scan_groups(const std::string& cursor, const std::string& pattern, int count) {
  return {"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(count)};
}

}  // namespace sb::common
