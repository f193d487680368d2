// sentinel_master.cpp — see sentinel_master.hpp.
#include "common/sentinel_master.hpp"

#include <charconv>
#include <string>

namespace sb::common {
namespace {

bool has_flag(std::string_view flags, std::string_view flag) {
  while (true) {
    const auto comma = flags.find(',');
    if (flags.substr(0, comma) == flag) return true;
    if (comma == std::string_view::npos) return false;
    flags = flags.substr(comma + 1);
  }
}

}  // namespace

std::optional<redis_endpoint> usable_sentinel_master(
    const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
  std::string_view ip, port, flags;
  for (const auto& [key, value] : fields) {
    if (key == "ip") ip = value;
    else if (key == "port") port = value;
    else if (key == "flags") flags = value;
  }
  if (!has_flag(flags, "master") || has_flag(flags, "s_down") || has_flag(flags, "o_down")) return std::nullopt;
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ip.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) return std::nullopt;
  return redis_endpoint{std::string(ip), p};
}

}  // namespace sb::common
