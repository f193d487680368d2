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

#include <charconv>
#include <cstddef>
#include <functional>
#include <initializer_list>
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

  // A command already in Redis' wire form (resp_command), for a write
  // nobody waits on (a history XADD): it may wait in the command link's
  // buffer up to lim::redis_defer_ms for company, and leaves with the next
  // command that cannot wait or when that time is up, in order with
  // everything else on the link. A busy loop then pays one write() and
  // wakes Redis once per batch, not once per loop turn. Returns false when
  // the host is not connected: the command is dropped.
  virtual bool deferred(std::size_t shard, std::string_view resp, reply_fn done) = 0;

  // The blocking link of a host (BZPOPMIN), beside the command link.
  virtual bool pop_connected(std::size_t shard) const = 0;
  virtual bool pop(std::size_t shard, const argv& args, reply_fn done) = 0;

  // On the shard of `name`.
  bool command_for(std::string_view name, const argv& args) { return command(index_of(name), args); }
  bool command_for(std::string_view name, const argv& args, reply_fn done) {
    return command(index_of(name), args, std::move(done));
  }
  bool deferred_for(std::string_view name, std::string_view resp, reply_fn done) {
    return deferred(index_of(name), resp, std::move(done));
  }
};

// `args` as Redis' request form (a RESP array of bulk strings), built in
// one allocation: what deferred() takes.
inline std::string resp_command(std::initializer_list<std::string_view> args) {
  auto digits = [](std::size_t n) {
    std::size_t d = 1;
    while (n >= 10) n /= 10, ++d;
    return d;
  };
  std::size_t size = 3 + digits(args.size());
  for (auto a : args) size += 5 + digits(a.size()) + a.size();
  std::string out;
  out.reserve(size);
  char num[24];
  auto put_len = [&](char mark, std::size_t n) {
    out.push_back(mark);
    out.append(num, std::to_chars(num, num + sizeof num, n).ptr);
    out.append("\r\n", 2);
  };
  put_len('*', args.size());
  for (auto a : args) {
    put_len('$', a.size());
    out.append(a);
    out.append("\r\n", 2);
  }
  return out;
}

}  // namespace sb::layerd
