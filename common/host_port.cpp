// host_port.cpp — see host_port.hpp.
#include "common/host_port.hpp"

#include <charconv>

namespace sb::common {

result<host_port> parse_host_port(std::string_view text) {
  const error bad{"must be host:port (IPv6 in brackets: [::1]:8000) with a port 0..65535"};
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad;  // an IPv6 address without brackets: the port is ambiguous
  }
  if (host.find_first_of("[] \t") != std::string_view::npos) return bad;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) return bad;
  return host_port{std::string(host), static_cast<unsigned short>(port)};
}

}  // namespace sb::common
