// presence.hpp — who is in a group, per user, kept by the group's owner.
//
// Attached to membership as a group_hooks: the owner of a group (docs/
// architecture.md, rule 1) hears every join and leave of it, so presence
// lives here, in memory, and nowhere else. A socket's user comes with its
// GROUP_ADD (or its gateway's SYNC) from the gateway's handshake identity;
// the router hands it over with expect() just before it changes membership,
// and joined() takes it. Per group, per user, a count of sockets (tabs):
// the user joins when it goes 0→1 and leaves at 1→0, so several tabs
// count once.
//
// Events are debounced with ONE deadline per group, not one per change:
// the first change in a quiet group arms it; when it expires the window's
// NET change goes out once (a user who left and came back inside the
// window produces nothing), as one DELIVER per gateway to the group's
// watching sockets (?presence=1) only. So a reconnect storm costs each
// watcher at most one frame per window. A watcher that joins gets a
// snapshot right after it is counted, so the snapshot always holds every
// user already present (on any gateway) and the joiner itself. A SYNC
// that brings a group here (this layerd took it over or restarted) counts
// its members without any event, as do the other gateways' SYNCs within
// limits::presence_rebuild_quiet_ms; a group that moved to another layerd
// is forgotten silently: failovers do not look like people coming and
// going. Later SYNC joins (a gateway this layerd expired comes back, its
// users' leaves announced) are announced like any join.
// A dead gateway's sockets leave like any other (membership tells us).
//
// Bounds: above --presence-list-max users, frames and answers carry the
// count only; a group counts at most limits::max_presence_channels sockets
// (more are members but not counted, with one warning); strings are
// bounded by the decoder (proto/codec.cpp).
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe. peers outlives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "layerd/group_hooks.hpp"
#include "layerd/options.hpp"
#include "layerd/peers.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

class presence final : public group_hooks {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t changes_sent = 0;    // debounced change events (one per group per window with a net change)
    std::uint64_t snapshots_sent = 0;  // join snapshots
    std::uint64_t frames_out = 0;      // watcher sockets those reached (targets of the DELIVERs)
    std::uint64_t not_counted = 0;     // sockets over max_presence_channels
  };

  presence(const layerd_config& cfg, peers& peers);

  // The user of `channel` in `group` for the membership change that follows.
  void expect(const std::string& group, const std::string& channel, const proto::presence_user& user);
  // Drops what expect() noted and no join took (a SYNC restating members).
  void clear_expected() { expected_.clear(); }

  bool follows(std::string_view group) const override;
  void joined(const std::string& group, const std::string& channel, join how) override;
  void left(const std::string& group, const std::string& channel) override;
  void moved_away(const std::string& group, const std::string& channel) override;
  void sent(const std::string&, const std::string&, std::string_view) override {}
  void rewritten(const std::string&, const std::vector<std::string>&, const std::vector<bool>&) override {}

  // Who is in `group` now (users at most --presence-list-max).
  proto::presence_state state(std::uint64_t request, const std::string& group) const;
  // Sends the changes whose window has ended; returns when to call again
  // (clock::time_point::max() when nothing waits).
  clock::time_point tick(clock::time_point now);

  const stats& counters() const { return stats_; }
  std::size_t group_count() const { return groups_.size(); }

 private:
  struct user_entry {
    std::string name;
    bool guest = true;
    std::uint32_t tabs = 0;
  };
  struct socket_entry {
    std::string id;
    bool watch = false;
  };
  // A user touched in the current window: whether it was present when the
  // window opened, and how to name it if it has gone since.
  struct touched_entry {
    bool was_present = false;
    std::string name;
    bool guest = true;
  };
  struct group_state {
    std::unordered_map<std::string, user_entry> users;        // user id → entry
    std::unordered_map<std::string, socket_entry> sockets;    // channel → its user
    std::map<std::string, std::unordered_set<std::string>> watchers;  // gateway → conn ids
    std::unordered_map<std::string, touched_entry> touched;   // this window's changes
    bool armed = false;
    bool warned_full = false;
    // Until then a SYNC's members are counted without events (a rebuild).
    clock::time_point quiet_until{};
  };

  void add(const std::string& group, group_state& g, const std::string& channel, const proto::presence_user& user, bool announce);
  void remove(const std::string& group, const std::string& channel, bool announce);
  // Uncounts one socket (its user leaves with its last tab); the group stays.
  void drop_socket(const std::string& group, group_state& g,
                   std::unordered_map<std::string, socket_entry>::iterator s, bool announce);
  void touch(const std::string& group, group_state& g, const std::string& id, const user_entry& u, bool was_present);
  void flush(const std::string& group, group_state& g);
  // One DELIVER per gateway of the encoded event to `watchers`.
  void deliver(const std::map<std::string, std::unordered_set<std::string>>& watchers, const std::string& event);
  void snapshot_to(const std::string& group, const group_state& g, const std::string& channel);
  bool listed(std::size_t count) const { return count <= static_cast<std::size_t>(list_max_); }

  peers& peers_;
  std::chrono::milliseconds debounce_;
  int list_max_;
  std::unordered_map<std::string, group_state> groups_;
  // Every window lasts debounce_, so arming order is expiry order.
  std::deque<std::pair<clock::time_point, std::string>> deadlines_;
  std::unordered_map<std::string, proto::presence_user> expected_;  // group + '\n' + channel → user
  stats stats_;
};

}  // namespace sb::layerd
