// redis_ring.hpp — layerd's Redis hosts, in the order channels_redis lists
// them (CONFIG "hosts"), each with its own pair of connections.
//
// Why a ring of independent servers: channels_redis shards on the client
// (common/redis_shard.hpp), so layerd must put every key on the server a
// Django process would use, and poll where Django writes. Each host gets a
// command link (pipelined writes and reads, so one group's commands keep
// their order) and a pop link (blocking BZPOPMIN of the gateways' inboxes,
// which would otherwise stall the pipeline). Each link reconnects on its
// own; the owner learns of a (re)connect per shard and rewrites only what
// lives there. One host behaves exactly as the single link did before.
// A shard may be a Sentinel set (sentinel://): its sentinel_resolver finds
// the master and both links follow it, reconnecting when it switches; the
// owner's per-shard rewrite then runs on the new master as on any
// reconnect. The ring is the production redis_commands: layerd's units
// see it only through that interface.
//
// Threading: everything runs on the layerd loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/redis_url.hpp"
#include "layerd/redis_commands.hpp"
#include "layerd/redis_link.hpp"
#include "layerd/sentinel_resolver.hpp"

namespace sb::layerd {

class redis_ring final : public redis_commands {
 public:
  using clock = std::chrono::steady_clock;

  struct shard {
    shard(const common::redis_url& u, std::size_t index);
    common::redis_url url;
    redis_link commands;
    redis_link pops;
    std::unique_ptr<sentinel_resolver> sentinel;  // a Sentinel shard only
    double rtt_ms = -1;  // last PING round trip on `commands`; -1 before the first
    clock::time_point next_ping{};
  };

  explicit redis_ring(const std::vector<common::redis_url>& urls);

  std::size_t size() const override { return shards_.size(); }
  // channels_redis' shard for a group name or a channel's non-local name.
  std::size_t index_of(std::string_view name) const override;
  bool connected(std::size_t i) const override { return at(i).commands.connected(); }
  bool command(std::size_t i, const argv& args) override { return at(i).commands.command(args); }
  bool command(std::size_t i, const argv& args, reply_fn done) override {
    return at(i).commands.command(args, std::move(done));
  }
  bool deferred(std::size_t i, std::string_view resp, reply_fn done) override {
    return at(i).commands.deferred(resp, std::move(done));
  }
  bool pop_connected(std::size_t i) const override { return at(i).pops.connected(); }
  bool pop(std::size_t i, const argv& args, reply_fn done) override { return at(i).pops.command(args, std::move(done)); }
  shard& at(std::size_t i) { return *shards_[i]; }
  const shard& at(std::size_t i) const { return *shards_[i]; }

  bool all_connected() const;
  // Some host's command link waits to write a command or for a reply, or
  // its pop link to write one (its blocking pop waits for good).
  bool busy() const;
  // Deferred commands go at the next chance (stopping: no more loop turns).
  void hurry();
  // The command links' counters, summed over the hosts.
  redis_link::stats totals() const;
  // Largest last PING round trip over the hosts; -1 before any.
  double worst_rtt_ms() const;

  // Reconnects what is due and PINGs each connected host every 5 s;
  // returns how long the loop may sleep.
  std::chrono::milliseconds tick(clock::time_point now);

  // Poll integration: appends one item per open connection; after
  // zmq::poll, dispatch(items, first) hands each its events.
  void add_poll_items(std::vector<zmq::pollitem_t>& items);
  void dispatch(const std::vector<zmq::pollitem_t>& items, std::size_t first);

 private:
  std::vector<std::unique_ptr<shard>> shards_;
  std::vector<redis_link*> polled_;  // the link behind each item added last
};

}  // namespace sb::layerd
