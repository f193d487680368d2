// room_history.cpp — see room_history.hpp.
#include "layerd/room_history.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <utility>


#include "common/channels_keys.hpp"
#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "layerd/channels_wire.hpp"

namespace sb::layerd {
namespace {

namespace lim = common::limits;

// Rooms remembered (their last id); past this, forget_ids() drops the idle
// ones, which read their last id again on their next send.
constexpr std::size_t max_rooms = 100000;

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string_view str_of(const ::redisReply* r) {
  return r && r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : std::string_view();
}

// XINFO STREAM of a key that may not exist: nil then, rather than an error
// reply (which Redis counts and the link logs).
const std::string info_script =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end return redis.call('XINFO', 'STREAM', KEYS[1])";

// XINFO STREAM's fields of interest (RESP2: a flat key/value array).
struct stream_info {
  bool exists = false;
  common::stream_id last;         // last-generated-id
  common::stream_id max_deleted;  // max-deleted-entry-id (Redis 7)
  common::stream_id first;        // recorded-first-entry-id
  long long length = 0;
};
stream_info read_info(const ::redisReply* r) {
  stream_info info;
  if (!r || r->type != REDIS_REPLY_ARRAY) return info;
  info.exists = true;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const auto name = str_of(r->element[i]);
    const auto* v = r->element[i + 1];
    if (name == "length" && v->type == REDIS_REPLY_INTEGER) info.length = v->integer;
    auto id = common::parse_stream_id(str_of(v));
    if (!id) continue;
    if (name == "last-generated-id") info.last = *id;
    if (name == "max-deleted-entry-id") info.max_deleted = *id;
    if (name == "recorded-first-entry-id") info.first = *id;
  }
  return info;
}

// One XRANGE entry [id, [field, value, ...]] as the event the gateway gets:
// the stored `e` with its id appended; nullopt when it is not ours to trust.
std::optional<std::string> entry_event(const ::redisReply* entry) {
  if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return std::nullopt;
  const auto id = str_of(entry->element[0]);
  const auto* fields = entry->element[1];
  if (id.empty() || fields->type != REDIS_REPLY_ARRAY) return std::nullopt;
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    if (str_of(fields->element[i]) != "e") continue;
    auto event = room_history::with_fields(str_of(fields->element[i + 1]), room_history::id_field(std::string(id)), 1);
    if (!event || !common::check_event(*event).ok) return std::nullopt;
    return event;
  }
  return std::nullopt;
}

// Appends the entries of an XRANGE/XREVRANGE reply (as entry_event gives
// them) to `events` while they fit `limit` and max_history_bytes; false
// when one did not.
bool collect(const ::redisReply* reply, std::size_t limit, std::vector<std::string>& events) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    if (events.size() == limit) return false;
    auto e = entry_event(reply->element[i]);
    if (!e) continue;
    if (bytes + e->size() > lim::max_history_bytes) return false;
    bytes += e->size();
    events.push_back(std::move(*e));
  }
  return true;
}

}  // namespace

room_history::room_history(const layerd_config& cfg, redis_commands& redis)
    : redis_(redis), prefix_(cfg.prefix), settings_(cfg.history) {}

const history_setting* room_history::setting_for(std::string_view group) const {
  for (const auto& s : settings_) {
    if (wire::glob_match(s.pattern, group)) return &s;
  }
  return nullptr;
}

std::optional<std::string> room_history::with_fields(std::string_view event, std::string_view packed,
                                                     std::uint32_t pairs) {
  if (event.empty()) return std::nullopt;
  const auto* b = reinterpret_cast<const unsigned char*>(event.data());
  std::uint64_t n = 0;
  std::size_t header = 0;
  if ((b[0] & 0xf0) == 0x80) {
    n = b[0] & 0x0f;
    header = 1;
  } else if (b[0] == 0xde && event.size() >= 3) {
    n = (std::uint64_t{b[1]} << 8) | b[2];
    header = 3;
  } else if (b[0] == 0xdf && event.size() >= 5) {
    n = (std::uint64_t{b[1]} << 24) | (std::uint64_t{b[2]} << 16) | (std::uint64_t{b[3]} << 8) | b[4];
    header = 5;
  } else {
    return std::nullopt;
  }
  const std::uint64_t m = n + pairs;
  if (m > 0xffffffffu) return std::nullopt;
  std::string out;
  out.reserve(event.size() + packed.size() + 4);
  if (m <= 15) {
    out.push_back(static_cast<char>(0x80 | m));
  } else if (m <= 0xffff) {
    out.push_back(static_cast<char>(0xde));
    out.push_back(static_cast<char>(m >> 8));
    out.push_back(static_cast<char>(m & 0xff));
  } else {
    out.push_back(static_cast<char>(0xdf));
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((m >> shift) & 0xff));
  }
  out.append(event.substr(header));
  out.append(packed);
  return out;
}

// Written by hand (no msgpack buffer): this runs for every message kept.
std::string room_history::id_field(std::string_view id) {
  std::string out("\xa2id", 3);  // "id": str (an id is at most 41 bytes)
  if (id.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | id.size()));
  } else {
    out.push_back(static_cast<char>(0xd9));
    out.push_back(static_cast<char>(id.size() & 0xff));
  }
  out += id;
  return out;
}

room_history::room& room_history::room_of(const std::string& group) {
  auto [it, added] = rooms_.try_emplace(group);
  if (added) it->second.name = &it->first;  // a map's keys stay where they are
  return it->second;
}

bool room_history::send(const std::string& group, const history_setting& s, const std::string& event,
                        fan_out_fn fan_out) {
  if (auto* now = ready(group)) {
    do_store(*now, s, event, fan_out);
    return true;
  }
  auto& r = room_of(group);
  if (r.waiting.size() >= lim::max_history_waiting) {
    // Redis is too slow to say: go on with the clock (and keep the order).
    ++stats_.clock_only;
    static common::log_limiter limit;
    common::warn_limited(limit, "redis", "history last id not read group={} reason=\"too many sends waiting\"", group);
    r.st = state::ready;
    ++r.generation;
    release(r);
    do_store(r, s, event, fan_out);
    return true;
  }
  ++stats_.waited;
  r.waiting.push_back(
      [this, group, s, event, fan_out = std::move(fan_out)] { do_store(room_of(group), s, event, fan_out); });
  return false;
}

void room_history::read(const std::string& group, std::uint32_t count, const std::string& since, read_fn done) {
  if (ready(group)) return do_read(group, count, since, std::move(done));
  room_of(group).waiting.push_back(
      [this, group, count, since, done = std::move(done)]() mutable { do_read(group, count, since, std::move(done)); });
}

void room_history::do_load(const std::string& group, room& r) {
  r.st = state::loading;
  r.waiting_since = clock::now();
  const std::uint64_t generation = ++r.generation;
  const bool asked = redis_.command_for(group, {"EVAL", info_script, "1", key(group)},
                                        [this, group, generation](const ::redisReply* reply) {
                                          on_loaded(group, generation, reply);
                                        });
  if (!asked) r.st = state::ready;  // Redis is away: the clock alone (and XADD will fail, counted)
}

void room_history::on_loaded(const std::string& group, std::uint64_t generation, const ::redisReply* reply) {
  auto it = rooms_.find(group);
  if (it == rooms_.end() || it->second.generation != generation || it->second.st != state::loading) return;
  auto& r = it->second;
  // No such key (nil): nothing to be above. No reply at all (the
  // link dropped): the clock, as when Redis is away.
  const auto info = read_info(reply);
  if (info.exists) r.last = std::max(r.last, info.last);
  r.st = state::ready;
  release(r);
}

void room_history::release(room& r) {
  auto waiting = std::move(r.waiting);
  r.waiting.clear();
  for (auto& fn : waiting) fn();
}

void room_history::tick(clock::time_point now) {
  for (auto& [group, r] : rooms_) {
    if (r.st != state::loading || now - r.waiting_since < std::chrono::milliseconds(lim::history_wait_ms)) continue;
    ++stats_.clock_only;
    static common::log_limiter limit;
    common::warn_limited(limit, "redis", "history last id not read group={} reason=\"no answer within {} ms\"", group,
                         lim::history_wait_ms);
    r.st = state::ready;
    ++r.generation;
    release(r);
  }
}

void room_history::forget_ids() {
  if (rooms_.size() > max_rooms) {
    // Not one a reply is still due to (its handler holds the room).
    std::erase_if(rooms_, [](const auto& kv) { return kv.second.st != state::loading && kv.second.stores_due == 0; });
    return;
  }
  for (auto& [group, r] : rooms_) {
    if (r.st == state::ready) r.st = state::unknown;
  }
}

room_history::room* room_history::ready(const std::string& group) {
  auto& r = room_of(group);
  if (r.st == state::unknown) do_load(group, r);
  return r.st == state::ready && r.waiting.empty() ? &r : nullptr;
}

room_history::stamped room_history::stamp(room& r, const std::string& event) {
  const auto id = common::stream_id::next(r.last, wall_ms());
  // The id alone: its milliseconds are the time (a separate "ts" made
  // every delivered line ~20 bytes longer, bench/RESULTS.md, Room history).
  char id_buf[lim::max_history_id_bytes];
  auto line = with_fields(event, id_field({id_buf, id.write(id_buf)}), 1);
  if (!line || line->size() > lim::max_event_bytes) {
    // At the event bound already: it goes as it came, and is not kept.
    ++stats_.store_failed;
    static common::log_limiter limit;
    common::warn_limited(limit, "layerd", "history not kept group={} reason=\"event at the size bound\"", *r.name);
    return {event, false, {}};
  }
  r.last = id;
  return {std::move(*line), true, id};
}

void room_history::do_store(room& r, const history_setting& s, const std::string& event, const fan_out_fn& fan_out) {
  const auto st = stamp(r, event);
  fan_out(st.line);
  if (st.kept) store(r, s, event, st.id);
}

void room_history::store(room& r, const history_setting& s, const std::string& event, const common::stream_id& id) {
  const std::string& group = *r.name;
  // The XADD may wait a moment for others (redis_commands::deferred): it
  // is built here in Redis' wire form, and its reply handler holds only
  // pointers (the room stays while replies are due, forget_ids).
  char maxlen[24];
  const std::string_view maxlen_text(maxlen, std::to_chars(maxlen, maxlen + sizeof maxlen, s.maxlen).ptr - maxlen);
  char id_buf[lim::max_history_id_bytes];
  const std::string_view id_text(id_buf, id.write(id_buf));
  const std::string k = key(group);
  room* rp = &r;
  const bool sent = redis_.deferred_for(
      group, resp_command({"XADD", k, "MAXLEN", "~", maxlen_text, id_text, "e", event}),
      [this, rp](const ::redisReply* reply) { on_stored(*rp, reply); });
  if (!sent) {
    ++stats_.store_failed;
    r.st = state::unknown;
    static common::log_limiter limit;
    common::warn_limited(limit, "redis", "history not kept group={} reason=\"redis unavailable\"", group);
    return;
  }
  ++r.stores_due;
  // The TTL counts from the last message; refreshed at most once a second
  // (one command fewer per message in a busy room).
  const auto t = clock::now();
  if (t >= r.expire_due) {
    r.expire_due = t + std::chrono::seconds(1);
    redis_.command_for(group, common::expire(k, s.ttl_s));
  }
}

void room_history::on_stored(room& r, const ::redisReply* reply) {
  --r.stores_due;
  if (reply && reply->type != REDIS_REPLY_ERROR) {
    ++stats_.stored;
    return;
  }
  ++stats_.store_failed;
  static common::log_limiter limit;
  common::warn_limited(limit, "redis", "history not kept group={} error=\"{}\"", *r.name,
                       reply ? std::string(reply->str, reply->len) : std::string("connection lost"));
  // Another writer may be ahead (a layerd that owned the group): read again.
  if (r.st == state::ready) r.st = state::unknown;
}

void room_history::do_read(const std::string& group, std::uint32_t count, const std::string& since, read_fn done) {
  ++stats_.reads;
  const std::string k = key(group);
  if (since.empty()) {
    if (count == 0) return done(true, {});
    const bool asked = redis_.command_for(
        group, {"XREVRANGE", k, "+", "-", "COUNT", std::to_string(count)},
        [this, count, done](const ::redisReply* reply) {
          if (!reply || (reply->type != REDIS_REPLY_ARRAY)) {
            ++stats_.reads_failed;
            return done(false, {});
          }
          // Newest first: keep what fits the byte bound, then turn it round.
          std::vector<std::string> events;
          const bool complete = collect(reply, count, events);
          std::reverse(events.begin(), events.end());
          done(complete, std::move(events));
        });
    if (!asked) {
      ++stats_.reads_failed;
      done(false, {});
    }
    return;
  }
  // Pipelined on one link: XINFO's answer comes first and says whether
  // anything after `since` was trimmed (or the stream is another one: it
  // expired and began again), then XRANGE brings what follows `since`.
  const auto since_id = common::parse_stream_id(since);
  auto info = std::make_shared<stream_info>();
  const bool asked = redis_.command_for(group, {"EVAL", info_script, "1", k},
                                        [info](const ::redisReply* reply) { *info = read_info(reply); });
  const bool ranged = asked && redis_.command_for(
      group, {"XRANGE", k, "(" + since, "+", "COUNT", std::to_string(std::uint64_t{count} + 1)},
      [this, info, since_id, count, done](const ::redisReply* reply) {
        if (!reply || reply->type != REDIS_REPLY_ARRAY) {
          ++stats_.reads_failed;
          return done(false, {});
        }
        // No stream (expired, or never written): the gap is unknown.
        const bool kept = info->exists && since_id && info->max_deleted <= *since_id &&
                          (info->length == 0 || info->first <= *since_id);
        std::vector<std::string> events;
        const bool whole = collect(reply, count, events);  // more than `count` followed: the rest is missing
        done(kept && whole, std::move(events));
      });
  if (!ranged) {
    ++stats_.reads_failed;
    done(false, {});
  }
}

}  // namespace sb::layerd
