// api_operations.cpp — see api_operations.hpp.
#include "layerd/api_operations.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"

namespace sb::layerd {

namespace {

api_operations::result error(int status, const std::string& text) {
  return {status, nlohmann::json{{"error", text}}.dump()};
}

const api_operations::result ok{200, R"({"ok":true})"};
const api_operations::result redis_away = error(503, "redis unavailable");

}  // namespace

struct api_operations::scan {
  std::set<std::string> names;
  std::string pattern;
  done_fn done;
  std::size_t shard = 0;
  int rounds = 0;
};

api_operations::api_operations(const layerd_config& cfg, redis_commands& redis, membership& members, router& router,
                               django_bridge& bridge, const metrics_text& metrics)
    : group_expiry_s_(cfg.group_expiry_s),
      redis_(redis),
      members_(members),
      router_(router),
      bridge_(bridge),
      metrics_(metrics),
      keys_(cfg.prefix) {}

void api_operations::group_send(const std::string& group, const std::string& event, done_fn done) {
  if (!common::is_valid_group_name(group)) return done(error(400, "invalid group name"));
  auto type = common::event_type(event);
  if (!type) return done(error(400, type.error_text()));
  if (members_.find(group)) {
    router_.group_send(group, event, type.value());
    return done(ok);
  }
  // No Switchboard member here: the group exists only if Redis knows it.
  const bool asked = redis_.command_for(
      group, {"ZCARD", keys_.group(group)}, [this, group, event, t = type.value(), done](const ::redisReply* r) {
        if (!r || r->type != REDIS_REPLY_INTEGER) return done(redis_away);
        if (r->integer == 0) return done(error(404, "no such group"));
        router_.group_send(group, event, t);
        done(ok);
      });
  if (!asked) done(redis_away);
}

void api_operations::send(const std::string& channel, const std::string& event, done_fn done) {
  auto type = common::event_type(event);
  if (!type) return done(error(400, type.error_text()));
  if (!common::is_valid_channel_name(channel)) return done(error(400, "invalid channel name"));
  // The same routing as a peer's SEND (router::send); its ERROR codes map
  // to statuses (docs/operations.md, HTTP API).
  router_.send(channel, event, [done](router::send_outcome out) {
    if (out.code.empty()) return done(ok);
    if (out.code == "no_route") return done(error(404, out.text));
    if (out.code == "channel_full") return done(error(429, out.text));
    if (out.code == "redis_unavailable") return done(error(503, out.text));
    done(error(400, out.text));
  });
}

void api_operations::group_add(const std::string& group, const std::string& channel, done_fn done) {
  if (!common::is_valid_group_name(group) || !common::is_valid_channel_name(channel)) {
    return done(error(400, "invalid group or channel name"));
  }
  // A channel outside Switchboard (a Django consumer, a worker channel):
  // Redis only, exactly as channels_redis' group_add.
  const std::string key = keys_.group(group);
  const std::size_t shard = redis_.index_of(group);
  if (!redis_.command(shard, common::zadd_member(key, common::score_text(common::unix_now()), channel))) {
    return done(redis_away);
  }
  redis_.command(shard, common::expire(key, group_expiry_s_));
  bridge_.members_changed(group);
  done(ok);
}

void api_operations::group_discard(const std::string& group, const std::string& channel, done_fn done) {
  if (!common::is_valid_group_name(group) || !common::is_valid_channel_name(channel)) {
    return done(error(400, "invalid group or channel name"));
  }
  if (!redis_.command_for(group, common::zrem_member(keys_.group(group), channel))) return done(redis_away);
  bridge_.members_changed(group);
  done(ok);
}

void api_operations::groups(done_fn done) {
  // Every shard in turn, bounded (common/limits.hpp).
  auto s = std::make_shared<scan>();
  s->pattern = keys_.group_scan_pattern();
  s->done = std::move(done);
  do_scan(std::move(s), "0");
}

void api_operations::do_scan(std::shared_ptr<scan> s, const std::string& cursor) {
  const std::size_t shard = s->shard;
  const bool asked = redis_.command(shard, common::scan_groups(cursor, s->pattern), [this, s](const ::redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return s->done(redis_away);
    const auto* keys = r->element[1];
    for (std::size_t i = 0; i < keys->elements && s->names.size() < common::limits::max_api_groups; ++i) {
      const std::string_view key(keys->element[i]->str, keys->element[i]->len);
      if (auto group = keys_.group_of(key)) s->names.emplace(*group);
    }
    std::string next(r->element[0]->str, r->element[0]->len);
    const bool full = s->rounds >= common::limits::max_api_scan_rounds || s->names.size() >= common::limits::max_api_groups;
    ++s->rounds;
    if (!full && next != "0") return do_scan(s, next);
    if (!full && s->shard + 1 < redis_.size()) {
      ++s->shard;
      return do_scan(s, "0");
    }
    s->done({200, nlohmann::json{{"groups", std::vector<std::string>(s->names.begin(), s->names.end())}}.dump()});
  });
  if (!asked) s->done(redis_away);
}

void api_operations::members(const std::string& group, done_fn done) {
  if (!common::is_valid_group_name(group)) return done(error(400, "invalid group name"));
  const bool asked = redis_.command_for(group, {"ZRANGE", keys_.group(group), "0", "-1"}, [done](const ::redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return done(redis_away);
    if (r->elements == 0) return done(error(404, "no such group"));
    std::vector<std::string> members;
    for (std::size_t i = 0; i < r->elements; ++i) members.emplace_back(r->element[i]->str, r->element[i]->len);
    done({200, nlohmann::json{{"members", members}}.dump()});
  });
  if (!asked) done(redis_away);
}

void api_operations::metrics(done_fn done) const { done({200, metrics_.render()}); }

}  // namespace sb::layerd
