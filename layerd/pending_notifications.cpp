// pending_notifications.cpp — see pending_notifications.hpp.
#include "layerd/pending_notifications.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <set>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/pending.hpp"

namespace sb::layerd {

pending_notifications::pending_notifications(const layerd_config& cfg, redis_commands& redis, peers& peers)
    : redis_(redis),
      peers_(peers),
      keys_(cfg.prefix),
      group_expiry_s_(cfg.group_expiry_s),
      pending_max_(cfg.pending_max),
      pending_age_s_(cfg.pending_age_s) {}

bool pending_notifications::follows(std::string_view group) const { return group.starts_with("notification_"); }

void pending_notifications::joined(const std::string& group, const std::string& channel, join how) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const std::string key = keys_.notification_routes(parts->gateway);
  const std::size_t shard = redis_.index_of(key);
  if (redis_.command(shard, {"HSET", key, std::string(parts->conn), group})) {
    redis_.command(shard, common::expire(key, group_expiry_s_));
  }
  // A SYNC restates memberships a socket already had: it got these then.
  if (how == join::add) do_send_pending(group, std::string(parts->gateway), std::string(parts->conn));
}

void pending_notifications::left(const std::string&, const std::string& channel) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const std::string key = keys_.notification_routes(parts->gateway);
  redis_.command_for(key, {"HDEL", key, std::string(parts->conn)});  // if Redis is away, the key's TTL cleans up
}

void pending_notifications::sent(const std::string& group, const std::string& event, std::string_view type) {
  if (type != "notify") return;
  const double now = common::unix_now();
  do_store(group, common::score_text(now), now, pending::random_tag(rng_) + event, 0);
}

void pending_notifications::rewritten(const std::string& group, const std::vector<std::string>& channels,
                                      const std::vector<bool>& shards) {
  std::set<std::string> keys;
  for (const auto& channel : channels) {
    auto parts = common::split_specific_channel(channel);
    if (!parts) continue;
    std::string key = keys_.notification_routes(parts->gateway);
    const std::size_t shard = redis_.index_of(key);
    if (!shards[shard]) continue;
    redis_.command(shard, {"HSET", key, std::string(parts->conn), group});
    keys.insert(std::move(key));
  }
  for (const auto& key : keys) redis_.command_for(key, common::expire(key, group_expiry_s_));
}

void pending_notifications::django_sent(const std::string& inbox, const std::string& score,
                                        const std::string& channel, const std::string& event) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const std::string key = keys_.notification_routes(parts->gateway);
  const bool asked = redis_.command_for(key, {"HGET", key, std::string(parts->conn)}, [this, inbox, score, event](
                                                                                         const ::redisReply* r) {
    if (!r || r->type != REDIS_REPLY_STRING) return;  // not a notification socket (or Redis went away)
    const std::string group(r->str, r->len);
    char* end = nullptr;
    const double value = std::strtod(score.c_str(), &end);
    if (!follows(group) || !common::is_valid_group_name(group) || end == score.c_str()) return;
    // With several Redis hosts channels_redis writes each host's copies
    // with its own `now`: copies from other inboxes within this window are
    // the same send.
    const double window = redis_.size() > 1 ? common::limits::pending_copy_window_s : 0;
    do_store(group, score, value, pending::django_tag(score, event, inbox) + event, window);
  });
  if (!asked) common::log("redis")->warn("pending notification not stored reason=\"redis unavailable\"");
}

void pending_notifications::do_store(const std::string& group, const std::string& score, double score_value,
                                     const std::string& member, double window_s) {
  const double now = common::unix_now();
  if (!redis_.command_for(group, pending::add_argv(keys_.pending(group), score, member, score_value, window_s,
                                                   now - pending_age_s_, pending_max_, pending_age_s_))) {
    common::log("redis")->warn("pending notification not stored group={} reason=\"redis unavailable\"", group);
  }
}

void pending_notifications::do_send_pending(const std::string& group, const std::string& gateway,
                                            const std::string& conn) {
  const std::string since = common::score_text(common::unix_now() - pending_age_s_);
  redis_.command_for(group, {"ZRANGEBYSCORE", keys_.pending(group), since, "+inf"},
                     [this, gateway, conn](const ::redisReply* r) {
                       if (!r || r->type != REDIS_REPLY_ARRAY || !peers_.is_gateway(gateway)) return;
                       for (std::size_t i = 0; i < r->elements; ++i) {
                         const auto* e = r->element[i];
                         if (e->type != REDIS_REPLY_STRING || e->len <= static_cast<long>(wire::prefix_bytes)) {
                           continue;
                         }
                         std::string event(e->str + wire::prefix_bytes, e->len - wire::prefix_bytes);
                         if (!common::event_type(event)) continue;  // not ours to trust blindly
                         peers_.reply(gateway, proto::deliver{{conn}, std::move(event)});
                       }
                     });
}

}  // namespace sb::layerd
