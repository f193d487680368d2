// join_query.cpp — see join_query.hpp.
#include "gateway/join_query.hpp"

#include "common/limits.hpp"
#include "common/stream_id.hpp"

namespace sb::gateway {
namespace {

namespace lim = common::limits;

// A decimal count, saturating at the bound (K is clamped, not refused).
std::optional<std::uint32_t> count_value(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min<std::uint64_t>(n * 10 + static_cast<std::uint64_t>(c - '0'), lim::max_history_count);
  }
  return static_cast<std::uint32_t>(n);
}

}  // namespace

std::string_view join_query_refusal_name(join_query_refusal r) {
  switch (r) {
    case join_query_refusal::history_repeated: return "history_repeated";
    case join_query_refusal::history_malformed: return "history_malformed";
    case join_query_refusal::since_repeated: return "since_repeated";
    case join_query_refusal::since_malformed: return "since_malformed";
  }
  return "?";
}

join_query parse_join_query(std::string_view target) {
  join_query q;
  const auto mark = target.find('?');
  if (mark == std::string_view::npos) return q;
  std::string_view rest = target.substr(mark + 1);
  bool seen_history = false;
  bool seen_since = false;
  std::uint32_t history = 0;
  auto refuse = [&q](join_query_refusal r, std::string detail) {
    q.refusal = r;
    q.detail = std::move(detail);
    q.count = 0;
    q.since.clear();
    return q;
  };
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (name == "history") {
      if (seen_history) return refuse(join_query_refusal::history_repeated, "history given twice");
      seen_history = true;
      auto k = count_value(value);
      if (!k) return refuse(join_query_refusal::history_malformed, "history must be a whole number of messages");
      history = *k;
    } else if (name == "since") {
      if (seen_since) return refuse(join_query_refusal::since_repeated, "since given twice");
      seen_since = true;
      if (!common::parse_stream_id(value)) {
        return refuse(join_query_refusal::since_malformed, "since must be a message id <ms>-<seq>");
      }
      q.since = std::string(value);
    }
  }
  // since wins: everything after it, as much as one replay carries.
  q.count = q.since.empty() ? history : lim::max_history_count;
  return q;
}

}  // namespace sb::gateway
