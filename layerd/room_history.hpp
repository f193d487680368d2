// room_history.hpp — a room's recent messages in a Redis Stream, written by
// the group's owner in its send order.
//
// Why here, and why before the fan-out: the owner (docs/architecture.md,
// rule 1) is the one place that sees a group's sends in the order every
// member gets them, so it stamps each chat message with the stream entry id
// it is about to give it (`id`, `<ms>-<seq>`, common/stream_id.hpp; its
// milliseconds are the time of the message), THEN fans it out, then XADDs it with that explicit id. Every
// member sees the same id, ids grow in delivery order, and the stream holds
// the messages in that order, so a client that reconnects with the last id
// it saw gets exactly what it missed (docs/protocol.md, History).
//
// The first send of a group after start or SYNC (ownership may have moved
// here from a layerd whose clock is ahead) reads the stream's last id
// (XINFO STREAM) so new ids are greater; the group's sends and reads wait
// behind that one round trip, in order, bounded in time and count
// (limits::history_wait_ms, max_history_waiting); past either they go with
// ids from the clock alone. Nothing else waits for Redis: XADD and EXPIRE
// are pipelined on the group's host link and their replies only counted;
// an XADD may wait there up to 2 ms for company (redis_commands::deferred).
//
// Stream `<prefix>:history:<group>`, entry fields `e` = the event's msgpack
// as sent (the id is the entry id, appended to the event when read),
// MAXLEN ~ N, EXPIRE TTL after an add (at most once a second per room); N and TTL per group-name glob
// (--history, first match wins).
//
// Threading: owned by the layerd loop thread; not thread-safe. The
// redis_commands outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/stream_id.hpp"
#include "layerd/options.hpp"
#include "layerd/redis_commands.hpp"

namespace sb::layerd {

class room_history {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t stored = 0;        // XADDs Redis accepted
    std::uint64_t store_failed = 0;  // XADDs refused or not sent (Redis away, an id not above the stream's)
    std::uint64_t waited = 0;        // sends that waited for the stream's last id
    std::uint64_t clock_only = 0;    // waits given up (no answer in time, or too many waiting)
    std::uint64_t reads = 0;         // HISTORY_GETs answered
    std::uint64_t reads_failed = 0;  // ... of which Redis could not answer
  };

  room_history(const layerd_config& cfg, redis_commands& redis);

  // The setting for `group` (first matching pattern), nullptr when its
  // history is off.
  const history_setting* setting_for(std::string_view group) const;
  // Whether an event of `type` is kept: chat messages (either spelling).
  static bool keeps(std::string_view type) { return type == "chat.message" || type == "chat_message"; }

  // `event` (checked, of a kept type) to `group`, whose setting is `s`:
  // stamps it, runs fan_out(stamped) and stores it, now or once the last
  // id is known (in send order). Returns true when it ran now.
  using fan_out_fn = std::function<void(const std::string& stamped)>;
  bool send(const std::string& group, const history_setting& s, const std::string& event, fan_out_fn fan_out);

  // The same without a closure, for the usual case (the router's fast
  // path): ready() gives the group's room when its sends may go now (its
  // last id known, none waiting; nullptr: use send(), which queues);
  // stamp() gives the line members get, then the caller fans it out, then
  // store() keeps it when stamp said so.
  struct room;
  struct stamped {
    std::string line;
    bool kept = false;  // false: at the event bound, sent as it came and not kept
    common::stream_id id;
  };
  room* ready(const std::string& group);
  stamped stamp(room& r, const std::string& event);
  void store(room& r, const history_setting& s, const std::string& event, const common::stream_id& id);

  // The last `count` messages, or (since set) those after `since`, oldest
  // first, each with its id; complete as HISTORY says. Ordered after
  // every send already handed to send().
  using read_fn = std::function<void(bool complete, std::vector<std::string> events)>;
  void read(const std::string& group, std::uint32_t count, const std::string& since, read_fn done);

  // Ownership may have changed (a SYNC): every group reads its last id again.
  void forget_ids();
  // Gives up waits older than history_wait_ms.
  void tick(clock::time_point now);

  const stats& counters() const { return stats_; }
  std::size_t rooms() const { return rooms_.size(); }

  // `event` (a msgpack map) with `pairs` more entries, already packed in
  // `packed` (key, value, ...) and appended after its own; nullopt when it
  // is not a map. A key given again wins over the event's own, as in a
  // Python dict and common/event.hpp's reading.
  static std::optional<std::string> with_fields(std::string_view event, std::string_view packed, std::uint32_t pairs);
  // The packed pair "id": text.
  static std::string id_field(std::string_view id);

 private:
  enum class state : std::uint8_t { unknown, loading, ready };

 public:
  // A room's state; callers outside only hold it between ready() and store().
  struct room {
    const std::string* name = nullptr;  // its key in rooms_
    state st = state::unknown;
    std::uint32_t stores_due = 0;  // XADDs whose reply has not come
    common::stream_id last;
    std::uint64_t generation = 0;  // bumped per last-id read, so a late answer is ignored
    clock::time_point waiting_since{};
    clock::time_point expire_due{};  // the stream's TTL is refreshed at most once a second
    std::deque<std::function<void()>> waiting;  // sends and reads behind the last-id read, in order
  };

 private:
  void do_load(const std::string& group, room& r);
  void on_loaded(const std::string& group, std::uint64_t generation, const ::redisReply* reply);
  room& room_of(const std::string& group);
  void release(room& r);
  void on_stored(room& r, const ::redisReply* reply);
  void do_store(room& r, const history_setting& s, const std::string& event, const fan_out_fn& fan_out);
  void do_read(const std::string& group, std::uint32_t count, const std::string& since, read_fn done);
  std::string key(std::string_view group) const { return prefix_ + ":history:" + std::string(group); }

  redis_commands& redis_;
  std::string prefix_;
  std::vector<history_setting> settings_;
  std::unordered_map<std::string, room> rooms_;
  stats stats_;
};

}  // namespace sb::layerd
