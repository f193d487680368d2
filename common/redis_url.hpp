// redis_url.hpp — parse redis://[:password@]host[:port][/db] into parts.
//
// Both the layerd command line and (later) the Django bridge name Redis by
// URL, as channels_redis does. Parsing is strict so a typo is a start-up
// error with a clear message rather than a silent default.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace sb::common {

struct redis_url {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
};

result<redis_url> parse_redis_url(std::string_view url);

}  // namespace sb::common
