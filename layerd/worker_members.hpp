// worker_members.hpp — the members of this layerd's groups whose consumer
// runs in a Django worker, and the group events layerd writes to those
// workers itself (docs/protocol.md, Part 3, Events from the group's owner).
//
// A gateway of 1.5 or later names a Django socket's worker with its
// membership (GROUP_ADD's and SYNC's proto::worker_route: W and the
// consumer's RENDER) once the worker has accepted the socket. For each
// group_send, the group's owner then writes the event to W for every such
// member whose gateway does not render it (common::render_spec::renders,
// the gateway's own rule): one `switchboard.event` per worker naming its
// sockets (common/worker_event.hpp), and lists those members' conns in the
// GROUP_DELIVER to their gateway (forwarded), which then neither renders
// nor forwards it for them. So a handler's event goes from the owner to
// Redis at once instead of through the gateway and back (two ZeroMQ
// crossings fewer), and the gateway does nothing per such member.
//
// What it keeps follows membership: set on GROUP_ADD (a GROUP_ADD without
// a worker forgets it: the gateway forwards that member's events itself),
// removed on GROUP_DISCARD, replaced whole by a SYNC, dropped with a dead
// gateway. A group with no such member costs one lookup per group_send.
// A worker_route that is not valid (not a process-local channel that is
// no Switchboard gateway's; a RENDER common::render_spec refuses) is
// counted and logged, and the member stays one the gateway forwards for.
//
// Threading: the layerd loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/render_spec.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

class worker_members {
 public:
  struct stats {
    std::uint64_t routes_refused = 0;  // worker_routes that were not valid (the gateway forwards for those members)
  };

  // GROUP_ADD from `gateway` for its socket `conn` (channel `channel`).
  void set(const std::string& group, const std::string& gateway, const std::string& conn, const std::string& channel,
           const std::optional<proto::worker_route>& worker);
  void remove(const std::string& group, const std::string& gateway, const std::string& conn);
  // A SYNC: `groups` (group → (conn, channel, worker) of each member that
  // has one) is all this gateway's such members here now.
  struct member {
    std::string conn;
    std::string channel;
    proto::worker_route worker;
  };
  void replace_gateway(const std::string& gateway, const std::vector<std::pair<std::string, std::vector<member>>>& groups);
  void forget_gateway(const std::string& gateway);

  // For one group_send: the messages for workers (W, message) and, per
  // gateway, the conns they cover. Empty when the group has no such member
  // or every one of them is rendered by its gateway.
  struct write {
    std::string worker;   // W
    std::string message;  // the switchboard.event
    std::size_t sockets;  // how many it names
  };
  struct plan {
    std::vector<write> writes;
    std::unordered_map<std::string, std::vector<std::string>> forwarded;  // gateway → conns
  };
  plan plan_for(const std::string& group, std::string_view event, std::string_view type) const;

  // The worker this layerd knows for `gateway`'s socket `conn` in `group`, or null.
  const std::string* worker_of(const std::string& group, const std::string& gateway, const std::string& conn) const;

  std::size_t member_count() const { return members_; }
  const stats& counters() const { return stats_; }

  // Set before use: whether a channel's process id is a Switchboard
  // gateway run's (live, or shaped like one): layerd never writes an event
  // into a gateway's inbox.
  void gateway_check(std::function<bool(const std::string&)> f) { is_gateway_ = std::move(f); }

 private:
  struct entry {
    std::string channel;  // S
    std::string worker;   // W
    std::shared_ptr<const common::render_spec> spec;
  };
  using by_conn = std::map<std::string, entry>;  // conn → entry (ordered: a stable plan)
  // A gateway's members of a group, bucketed by their (interned) spec, so
  // a send its RENDER covers skips the whole bucket: a fast-path room costs
  // a plan O(gateways × specs), not O(members). `spec_of` finds a conn's bucket.
  struct gateway_members {
    std::unordered_map<const common::render_spec*, by_conn> by_spec;
    std::unordered_map<std::string, const common::render_spec*> spec_of;
  };
  using by_gateway = std::unordered_map<std::string, gateway_members>;  // gateway → its members
  std::optional<entry> checked(const std::string& channel, const proto::worker_route& w);

  std::unordered_map<std::string, by_gateway> groups_;
  std::unordered_map<std::string, std::unordered_set<std::string>> gateway_groups_;  // gateway → its groups here
  std::size_t members_ = 0;
  std::function<bool(const std::string&)> is_gateway_;
  stats stats_;
};

}  // namespace sb::layerd
