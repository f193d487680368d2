// host_port.hpp — "host:port" listen addresses, one parser for every option.
//
// Every listen option of both daemons (the gateway's --listen, layerd's
// --http-listen and --metrics-listen) takes the same spelling: an IPv4
// address or name, or an IPv6 address in brackets, then ':' and a port
// 0..65535 (0: the kernel picks one). Brackets are removed from the host so
// it can be handed to Asio's make_address or resolver as it is.
//
// Pure; any thread. Returns an error text that names the option's rule.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace sb::common {

struct host_port {
  std::string host;  // without brackets
  unsigned short port = 0;
};

result<host_port> parse_host_port(std::string_view text);

}  // namespace sb::common
