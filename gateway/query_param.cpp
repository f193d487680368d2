// query_param.cpp — see query_param.hpp.
#include "gateway/query_param.hpp"

#include "common/names.hpp"

namespace sb::gateway {

query_param find_query_param(std::string_view target, std::string_view name) {
  query_param out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    ++out.count;
    const std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    out.value = common::percent_decode(raw);
  }
  return out;
}

common::result<bool> presence_watch(std::string_view target) {
  const auto p = find_query_param(target, "presence");
  if (p.count == 0) return false;
  if (p.count > 1) return common::error{"presence given more than once"};
  if (p.value && *p.value == "1") return true;
  if (p.value && *p.value == "0") return false;
  return common::error{"presence must be 0 or 1"};
}

}  // namespace sb::gateway
