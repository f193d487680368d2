// popped_sends.hpp — a sole gateway's workers' group_sends, applied by
// layerd where it pops their batch (docs/protocol.md, Part 3, "Group sends
// applied where they are popped").
//
// A worker's group_send for a socket S travels in a switchboard.batch to
// its gateway's control channel. Normally layerd pops the batch, DELIVERs
// it, and the gateway's door (gateway/worker_door.hpp) puts S's messages
// in seq order and sends each group_send back to the group's owner as a
// GROUP_SEND: two ZeroMQ crossings on the way of every browser message on
// a consumer route. A gateway that talks to one layerd only says so in its
// HELLO (`sole`); that layerd owns every group the gateway uses and is the
// only one that pops its inbox, so it may fan such a group_send out itself
// when it pops it, and tells the gateway which entries it applied
// (DELIVER's `applied`); the door then only steps S's seq past them.
//
// What keeps S's order: a group_send is applied here only when nothing
// earlier of S that changes groups or sends to one (group_add,
// group_discard, a group_send left to the gateway) is still on its way
// through the gateway. Each DELIVER carrying such an entry gets a serial,
// and S is marked with it; the gateway answers BATCH_DONE(serial) once it
// applied that DELIVER, behind whatever it sent this layerd meanwhile (one
// link, in order), so from then on S's earlier group operations are here.
// A group operation the worker sent to S alone (not in a batch: one too
// big for a batch) is DELIVERed without a serial; S is marked with the
// next serial to be given, so it waits for the BATCH_DONE of a later
// DELIVER, which the gateway applies after that one.
// A socket the gateway holds messages for (a seq gap: BATCH_DONE's
// `waiting`) is left to the gateway until a BATCH_DONE no longer names it.
// After a HELLO nothing is applied until the first BATCH_DONE, so what was
// in flight on an older connection is behind us. A group_send is applied
// only for a socket this layerd knows as a worker member of that group with
// the batch's worker (worker_members: the gateway told it at the accept);
// anything else, and every group_send when the marks would pass their
// bound, is left to the gateway, as before.
//
// Threading: the layerd loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/worker_wire.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

class popped_sends {
 public:
  // Sockets marked at once per gateway; past it every group_send of that
  // gateway is left to it until its BATCH_DONEs catch up.
  static constexpr std::size_t max_marked = 100000;

  struct stats {
    std::uint64_t applied = 0;         // group_sends fanned out where popped
    std::uint64_t left = 0;            // group_sends of a sole gateway's batches left to its door
    std::uint64_t batch_dones = 0;     // BATCH_DONEs taken
    std::uint64_t marks_overflowed = 0;  // times max_marked was reached
  };

  // A gateway's HELLO: whether it is sole (1.6). Starts it afresh either way.
  void hello(const std::string& gateway, bool sole);
  void forget(const std::string& gateway);
  bool sole(const std::string& gateway) const { return gateways_.count(gateway) != 0; }
  // BATCH_DONE from `gateway`.
  void done(const std::string& gateway, const proto::batch_done& d);
  // A worker's group operation for `gateway`'s socket `conn` popped alone
  // (not in a batch) and DELIVERed without a serial: the socket's later
  // group_sends wait for the next serial's BATCH_DONE, which the gateway
  // sends after applying this DELIVER (one link, in order).
  void unbatched(const std::string& gateway, const std::string& conn);

  // A switchboard.batch popped for `gateway`'s control channel: the
  // group_sends to apply now (in the batch's order), the entries they are
  // (DELIVER's applied) and the DELIVER's serial (0: no BATCH_DONE wanted).
  // worker_of(group, conn): the worker this layerd knows for that member, or
  // null.
  struct send {
    std::string group;
    std::string event;
    std::string type;
  };
  struct plan {
    std::vector<std::uint32_t> applied;
    std::uint64_t serial = 0;
    std::vector<send> sends;
  };
  using worker_of_fn = std::function<const std::string*(const std::string& group, const std::string& conn)>;
  plan plan_for(const std::string& gateway, const common::worker_wire::group_ops& batch, const worker_of_fn& worker_of);

  const stats& counters() const { return stats_; }
  std::size_t marked() const;

 private:
  struct gateway_state {
    std::uint64_t serial = 0;   // the last serial given a DELIVER
    std::uint64_t done = 0;     // the highest BATCH_DONE
    std::uint64_t barrier = 1;  // nothing is applied while done < barrier
    std::unordered_map<std::string, std::uint64_t> marks;  // conn → serial of its last group entry left to the gateway
    std::deque<std::pair<std::uint64_t, std::string>> order;  // (serial, conn) as marked, for pruning
    std::unordered_set<std::string> waiting;  // the last BATCH_DONE's
  };
  // conn waits for `serial`; past max_marked every socket does.
  void mark(gateway_state& g, const std::string& conn, std::uint64_t serial);

  std::unordered_map<std::string, gateway_state> gateways_;  // sole gateways only
  stats stats_;
};

}  // namespace sb::layerd
