// redis_url.hpp — parse a --redis URL (a Redis host, or a Sentinel set that
// names one) into parts.
//
// layerd and switchboard-cli name each Redis shard by URL, as a Django
// project lists CHANNEL_LAYERS hosts: either one server,
//   redis://[:password@]host[:port][/db]
// or a master found through Redis Sentinel (channels_redis' hosts entry
// {"sentinels": [...], "master_name": ..., "sentinel_kwargs": {...}}),
//   sentinel://host[:port][,host[:port]...]/master_name[?db=N&password=P&sentinel_password=S]
// (docs/operations.md, "Redis Sentinel"). Parsing is strict so a typo is a
// start-up error with a clear message rather than a silent default.
//
// Pure; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sb::common {

struct redis_endpoint {
  std::string host;
  int port = 0;
  bool operator==(const redis_endpoint& o) const { return host == o.host && port == o.port; }
  bool operator!=(const redis_endpoint& o) const { return !(*this == o); }
};

struct redis_url {
  // A plain host; for a Sentinel shard, unused until the master is known.
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;  // the Redis server's (the master's, for a Sentinel shard)
  // A Sentinel shard: the sentinels in the order given (asked in turn) and
  // the master's name. Empty for a plain host.
  std::vector<redis_endpoint> sentinels;
  std::string master_name;
  std::string sentinel_password;  // channels_redis' sentinel_kwargs {"password": ...}

  bool is_sentinel() const { return !sentinels.empty(); }
};

// Most sentinels one shard may list (a Sentinel deployment has 3 or 5).
inline constexpr std::size_t max_sentinels_per_shard = 16;
inline constexpr int default_sentinel_port = 26379;

result<redis_url> parse_redis_url(std::string_view url);

// Several URLs, one per Redis host in channels_redis' order (CONFIG
// "hosts"). An empty list or a bad entry is an error that names the entry
// ("redis URL #2 (redis://...): bad port in redis URL").
result<std::vector<redis_url>> parse_redis_urls(const std::vector<std::string>& urls);

// "host:port/db", for logs and metric labels (never the password); a
// Sentinel shard is "master_name@sentinel:port,sentinel:port/db".
std::string describe(const redis_url& url);
std::string describe(const redis_endpoint& e);

}  // namespace sb::common
