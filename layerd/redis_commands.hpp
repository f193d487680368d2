// redis_commands.hpp — the Redis command API layerd's units are written
// against: the hosts of a redis_ring, addressed by shard.
//
// Why an interface: the membership mirror, the Django bridge, pending
// notifications and the HTTP operations only issue commands and read
// replies; behind this class they run against the real ring in production
// and against a scripted fake in the unit tests, without a Redis server.
// Calls are per command (never per group member on the fan-out path), so
// the virtual call costs nothing that shows.
//
// Threading: everything runs on the layerd loop thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct redisReply;

namespace sb::layerd {

class redis_commands {
 public:
  using argv = std::vector<std::string>;
  // Gets the reply; nullptr when the connection went away before it came.
  using reply_fn = std::function<void(const ::redisReply* reply)>;

  virtual ~redis_commands() = default;

  // Hosts, in channels_redis' order.
  virtual std::size_t size() const = 0;
  // channels_redis' shard for a group name, a key or a channel's non-local name.
  virtual std::size_t index_of(std::string_view name) const = 0;

  // The command link of a host (pipelined, in order). Both command()s
  // return false when it is not connected: the command is dropped.
  virtual bool connected(std::size_t shard) const = 0;
  virtual bool command(std::size_t shard, const argv& args) = 0;
  virtual bool command(std::size_t shard, const argv& args, reply_fn done) = 0;

  // The blocking link of a host (BZPOPMIN), beside the command link.
  virtual bool pop_connected(std::size_t shard) const = 0;
  virtual bool pop(std::size_t shard, const argv& args, reply_fn done) = 0;

  // On the shard of `name`.
  bool command_for(std::string_view name, const argv& args) { return command(index_of(name), args); }
  bool command_for(std::string_view name, const argv& args, reply_fn done) {
    return command(index_of(name), args, std::move(done));
  }
};

}  // namespace sb::layerd
