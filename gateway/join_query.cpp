// join_query.cpp — see join_query.hpp.
#include "gateway/join_query.hpp"

#include "common/limits.hpp"
#include "common/stream_id.hpp"
#include "gateway/query_param.hpp"

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

// Read by name with find_query_param, as ?token= and ?presence= are
// (percent-decoded, so `?history=%31` is `?history=1`, as in any URL).
join_query parse_join_query(std::string_view target) {
  join_query q;
  auto refuse = [&q](join_query_refusal r, std::string detail) {
    q.refusal = r;
    q.detail = std::move(detail);
    return q;
  };
  std::uint32_t history = 0;
  const auto h = find_query_param(target, "history");
  if (h.count > 1) return refuse(join_query_refusal::history_repeated, "history given twice");
  if (h.count == 1) {
    auto k = h.value ? count_value(*h.value) : std::nullopt;
    if (!k) return refuse(join_query_refusal::history_malformed, "history must be a whole number of messages");
    history = *k;
  }
  const auto since = find_query_param(target, "since");
  if (since.count > 1) return refuse(join_query_refusal::since_repeated, "since given twice");
  if (since.count == 1) {
    if (!since.value || !common::parse_stream_id(*since.value)) {
      return refuse(join_query_refusal::since_malformed, "since must be a message id <ms>-<seq>");
    }
    q.since = *since.value;
  }
  // since wins: everything after it, as much as one replay carries.
  q.count = q.since.empty() ? history : lim::max_history_count;
  return q;
}

}  // namespace sb::gateway
