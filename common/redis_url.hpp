// redis_url.hpp — parse redis://[:password@]host[:port][/db] into parts.
//
// layerd and switchboard-cli name each Redis host by URL, as a Django
// project lists CHANNEL_LAYERS hosts. Parsing is strict so a typo is a start-up
// error with a clear message rather than a silent default.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sb::common {

struct redis_url {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
};

result<redis_url> parse_redis_url(std::string_view url);

// Several URLs, one per Redis host in channels_redis' order (CONFIG
// "hosts"). An empty list or a bad entry is an error that names the entry
// ("redis URL #2 (redis://...): bad port in redis URL").
result<std::vector<redis_url>> parse_redis_urls(const std::vector<std::string>& urls);

// "host:port/db", for logs and metric labels (never the password).
std::string describe(const redis_url& url);

}  // namespace sb::common
