// django_bridge.cpp — see django_bridge.hpp.
#include "layerd/django_bridge.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/redis_shard.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/fernet.hpp"

namespace sb::layerd {

django_bridge::django_bridge(const layerd_config& cfg, redis_commands& redis, peers& peers,
                             pending_notifications& pending)
    : cfg_(cfg), redis_(redis), peers_(peers), pending_(pending), keys_(cfg.prefix), pop_in_flight_(redis.size()) {}

// ---- Django to Switchboard ----

void django_bridge::do_pop() {
  if (peers_.gateways().empty()) return;
  // One BZPOPMIN over every live gateway's inbox key (channels_redis
  // puts all of a process's channels in `<prefix>specific.<id>!`), on
  // EVERY shard, not only on H(non-local name) where group_send writes:
  // channels_redis' send() to a process-specific channel hashes the full
  // channel name (common/redis_shard.hpp), so a Django send() to one
  // Switchboard socket may land on any shard.
  redis_commands::argv argv;
  for (std::size_t i = 0; i < redis_.size(); ++i) {
    if (pop_in_flight_[i] || !redis_.pop_connected(i)) continue;
    if (argv.empty()) {
      argv.push_back("BZPOPMIN");
      for (const auto& [gateway, seen] : peers_.gateways()) argv.push_back(keys_.inbox("specific." + gateway + "!"));
      argv.push_back("1");
    }
    pop_in_flight_[i] = redis_.pop(i, argv, [this, i](const ::redisReply* r) { on_popped(i, r); });
  }
}

void django_bridge::on_popped(std::size_t shard, const ::redisReply* popped) {
  pop_in_flight_[shard] = false;
  if (!popped || popped->type != REDIS_REPLY_ARRAY || popped->elements != 3) return;  // timeout, or Redis went away
  const ::redisReply* member = popped->element[1];
  if (member->type != REDIS_REPLY_STRING) return;
  common::result<wire::inbound> in = common::error{"member shorter than the 12-byte prefix"};
  const std::string_view stored(member->str, member->len);
  if (stored.size() > wire::prefix_bytes) {
    if (cfg_.encryption_keys.empty()) {
      in = wire::decode_body(stored.substr(wire::prefix_bytes));
    } else {
      const auto now = static_cast<std::uint64_t>(common::unix_now());
      auto plain = fernet::decrypt(cfg_.encryption_keys, stored.substr(wire::prefix_bytes), now,
                                   static_cast<std::uint64_t>(cfg_.expiry_s) + 10);
      in = plain ? wire::decode_body(plain.value()) : common::result<wire::inbound>(common::error{plain.error_text()});
    }
  }
  auto type = in ? common::event_type(in->event) : common::result<std::string>(common::error{in.error_text()});
  if (!type) {
    ++stats_.inbox_dropped;
    static common::log_limiter limit_0;
    common::warn_limited(limit_0, "layerd", "inbox message dropped reason=\"{}\" dropped_total={}", type.error_text(),
                                stats_.inbox_dropped);
    do_pop();
    return;
  }
  if (in->from_group_send && type.value() == "notify" && popped->element[0]->type == REDIS_REPLY_STRING &&
      popped->element[2]->type == REDIS_REPLY_STRING) {
    // Django's group_send to a notification group: keep it as pending, once
    // however many gateway inboxes (and layerds) see a copy.
    auto live = std::find_if(in->channels.begin(), in->channels.end(),
                             [this](const std::string& c) { return peers_.owns_channel(c); });
    if (live != in->channels.end()) {
      pending_.django_sent(std::string(popped->element[0]->str, popped->element[0]->len),
                           std::string(popped->element[2]->str, popped->element[2]->len), *live, in->event);
    }
  }
  deliver_popped(in->channels, in->event);
  do_pop();  // keep draining while there is more
}

void django_bridge::deliver_popped(const std::vector<std::string>& channels, const std::string& event) {
  std::unordered_map<std::string, std::vector<std::string>> per_gateway;
  std::size_t unknown = 0;
  for (const auto& c : channels) {
    auto parts = common::split_specific_channel(c);
    if (!parts || !peers_.is_gateway(std::string(parts->gateway))) {
      ++unknown;
      continue;
    }
    per_gateway[std::string(parts->gateway)].emplace_back(parts->conn);
  }
  if (unknown) {
    ++stats_.inbox_dropped;
    static common::log_limiter limit_1;
    common::warn_limited(limit_1, "layerd", "inbox message partly dropped reason=\"no such Switchboard channel\" channels={}",
                                unknown);
  }
  for (auto& [gateway, conns] : per_gateway) {
    ++stats_.inbox_delivered;
    if (popped_ && popped_(gateway, conns, event)) continue;
    peers_.reply(gateway, proto::deliver{std::move(conns), event});
  }
}

// ---- Switchboard to Django ----

void django_bridge::send(const std::string& group, const std::string& event) {
  auto [entry, fresh] = groups_.try_emplace(group);
  auto& g = entry->second;
  if (fresh) g.shard = redis_.index_of(group);
  if (!redis_.connected(g.shard)) return;  // Django members are out of reach until Redis is back
  g.used = clock::now();
  if (g.waiting.size() >= common::limits::max_django_backlog) {
    ++stats_.backlog_dropped;
    g.waiting.pop_front();
    static common::log_limiter limit;  // under overload this is every send: once per interval (rule 7)
    common::warn_limited(limit, "redis", "django delivery backlog full group={} reason=\"redis slow\" dropped_total={}",
                         group, stats_.backlog_dropped);
  }
  g.waiting.emplace_back(g.next_seq++, event);
  // One membership check in flight per group: sends that arrive while one
  // is out wait for the next, which is asked when it returns, so it is
  // still asked after each of them arrived (a Django consumer that joined
  // before a send gets it) and busy groups cost one ZCARD per round trip,
  // not one per send.
  if (!g.checking) do_check(group, g);
}

void django_bridge::members_changed(const std::string& group) {
  if (auto g = groups_.find(group); g != groups_.end()) g->second.known_total = -1;
}

void django_bridge::tick(clock::time_point now) {
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(10);
  std::erase_if(groups_, [&](const auto& entry) {
    const auto& g = entry.second;
    return !g.checking && g.waiting.empty() && now - g.used > std::chrono::seconds(10);
  });
}

void django_bridge::do_check(const std::string& group, group_state& g) {
  const std::uint64_t covers = g.next_seq - 1;
  g.checking = true;
  const bool sent = redis_.command(g.shard, {"ZCARD", keys_.group(group)},
                                   [this, group, covers](const ::redisReply* r) { on_group_size(group, covers, r); });
  if (!sent) finish_check(group, g, covers, false);  // Redis went away: what waits for it is lost, as for any write
}

void django_bridge::on_group_size(const std::string& group, std::uint64_t covers, const ::redisReply* reply) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  auto& g = it->second;
  if (!reply || reply->type != REDIS_REPLY_INTEGER) return finish_check(group, g, covers, false);
  if (reply->integer == g.known_total) return finish_check(group, g, covers, true);
  // The membership changed: read it (still "checking"); the list covers
  // every send that had arrived when it was asked for.
  const std::uint64_t now_covers = g.next_seq - 1;
  const bool sent = redis_.command(g.shard, {"ZRANGE", keys_.group(group), "0", "-1"},
                                   [this, group, now_covers](const ::redisReply* r) {
                                     on_group_members(group, now_covers, r);
                                   });
  if (!sent) finish_check(group, g, now_covers, false);
}

void django_bridge::on_group_members(const std::string& group, std::uint64_t covers, const ::redisReply* reply) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  auto& g = it->second;
  g.members.clear();
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    g.known_total = -1;
    return finish_check(group, g, covers, false);
  }
  g.known_total = static_cast<long long>(reply->elements);
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const auto* e = reply->element[i];
    if (e->type != REDIS_REPLY_STRING) continue;
    std::string_view channel(e->str, e->len);
    // A Switchboard socket is never a Django member, even when its gateway
    // is not (or not yet) known here: another layerd drains that gateway's
    // inbox, so writing there would deliver the message twice; and a gone
    // gateway's inbox has no reader at all. The cache below is re-read only
    // when the group's size changes, so this must not depend on who is
    // connected at the moment of the read.
    auto parts = common::split_specific_channel(channel);
    const bool switchboard_socket = parts && is_switchboard_process_id(parts->gateway);
    if (!switchboard_socket && !peers_.owns_channel(channel)) g.members.emplace_back(channel);
  }
  finish_check(group, g, covers, true);
}

// A check (and the member read it may need) has answered for the sends up
// to `covers`: write them to the Django members, or drop them when Redis
// failed; then check again for the sends that came meanwhile.
void django_bridge::finish_check(const std::string& group, group_state& g, std::uint64_t covers, bool answered) {
  g.checking = false;
  while (!g.waiting.empty() && g.waiting.front().first <= covers) {
    if (answered) do_write(group, g.members, g.waiting.front().second);
    g.waiting.pop_front();
  }
  if (!g.waiting.empty()) do_check(group, g);
}

std::string django_bridge::stored_member(const std::string& event, const std::vector<std::string>& channels,
                                         wire::channel_field field) {
  auto body = wire::encode_body(event, channels, field);
  if (!body) return {};
  const std::string stored =
      cfg_.encryption_keys.empty() ? body.value() : fernet::encrypt(cfg_.encryption_keys.front(), body.value());
  return wire::random_prefix(rng_) + stored;
}

void django_bridge::purge(std::size_t shard, const std::string& key, double now) {
  const std::string before = std::to_string(static_cast<long long>(std::floor(now)) - cfg_.expiry_s);
  redis_.command(shard, {"ZREMRANGEBYSCORE", key, "0", before});
}

int django_bridge::capacity_for(std::string_view channel) const {
  for (const auto& [pattern, cap] : cfg_.channel_capacity) {
    if (wire::glob_match(pattern, channel)) return cap;
  }
  return cfg_.capacity;
}

void django_bridge::do_write(const std::string& group, const std::vector<std::string>& members,
                             const std::string& event) {
  if (members.empty()) return;
  // One copy per inbox key (a Django process's channels share one), in
  // first-seen order, as channels_redis' group_send does; each key on the
  // shard of its non-local name, one purge + EVAL per shard.
  std::vector<std::string> names;
  std::unordered_map<std::string, std::vector<std::string>> by_name;
  for (const auto& m : members) {
    auto [pos, fresh] = by_name.try_emplace(std::string(wire::non_local(m)));
    if (fresh) names.push_back(pos->first);
    pos->second.push_back(m);
  }
  std::vector<std::size_t> shard_order;
  std::vector<std::vector<std::string>> names_of(redis_.size());
  for (const auto& n : names) {
    const std::size_t i = redis_.index_of(n);
    if (names_of[i].empty()) shard_order.push_back(i);
    names_of[i].push_back(n);
  }
  const double now = common::unix_now();
  for (const std::size_t i : shard_order) {
    const auto& shard_names = names_of[i];
    redis_commands::argv argv{"EVAL", wire::capacity_script, std::to_string(shard_names.size())};
    for (const auto& n : shard_names) {
      std::string key = keys_.inbox(n);
      purge(i, key, now);
      argv.push_back(std::move(key));
    }
    for (const auto& n : shard_names) {
      std::string member = stored_member(event, by_name[n], wire::channel_field::array);
      if (member.empty()) return;  // the event was checked on arrival; cannot happen
      argv.push_back(std::move(member));
    }
    // channels_redis takes a key's capacity from its first member's name.
    for (const auto& n : shard_names) argv.push_back(std::to_string(capacity_for(by_name[n].front())));
    argv.push_back(scores_.next(now));
    argv.push_back(std::to_string(cfg_.expiry_s));
    const std::size_t count = shard_names.size();
    redis_.command(i, argv, [this, group, count](const ::redisReply* r) {
      if (!r || r->type != REDIS_REPLY_INTEGER) return;
      stats_.written += count - static_cast<std::size_t>(r->integer);
      if (r->integer > 0) {
        stats_.inbox_full += static_cast<std::uint64_t>(r->integer);
        common::log("redis")->warn("django inboxes full group={} full={} of={} capacity={}", group, r->integer, count,
                                   cfg_.capacity);
      }
    });
  }
}

// ---- send() to one Django channel ----

bool is_switchboard_process_id(std::string_view process) {
  constexpr std::size_t hex_digits = 16;
  if (process.size() < hex_digits + 2 || process[process.size() - hex_digits - 1] != '.') return false;
  return std::all_of(process.end() - hex_digits, process.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void django_bridge::send_to_channel(const std::string& channel, const std::string& event, direct_done done,
                                    bool every_host) {
  // channels_redis' send(): a process-local channel ("...!local") goes to
  // its process's inbox `<prefix><non-local name>` with the full name in a
  // string __asgi_channel__; a plain channel to `<prefix><channel>` with no
  // such field. Host: a process-local channel on the host its process reads
  // (H(non-local name); channels_redis' own send() hashes the full name
  // there, which its receiver never reads when there are several hosts:
  // docs/django.md, Several Redis hosts); a plain channel on the next host
  // in that channel's own turn, as channels_redis' send() cycles the hosts
  // (its receive() of the channel moves to the next host after each
  // message), skipping hosts that are down; or, every_host, on each host
  // that is up (docs/protocol.md, Part 3, Several Redis hosts).
  const bool local = channel.find('!') != std::string::npos;
  std::vector<std::size_t> shards;
  if (local) {
    const std::size_t shard = redis_.index_of(wire::non_local(channel));
    if (!redis_.connected(shard)) return done(direct_outcome::redis_unavailable);
    shards.push_back(shard);
  } else if (every_host) {
    for (std::size_t i = 0; i < redis_.size(); ++i) {
      if (redis_.connected(i)) shards.push_back(i);
    }
    if (shards.empty()) return done(direct_outcome::redis_unavailable);
  } else {
    std::size_t& next = next_plain_shard_[common::crc32(channel) % next_plain_shard_.size()];
    for (std::size_t tries = 0; tries < redis_.size() && shards.empty(); ++tries) {
      const std::size_t shard = next % redis_.size();
      next = (shard + 1) % redis_.size();
      if (redis_.connected(shard)) shards.push_back(shard);
    }
    if (shards.empty()) return done(direct_outcome::redis_unavailable);
  }
  // Bounded: a sender flooding a slow Redis is refused with an ERROR, not
  // queued without end (docs/architecture.md, rules 4 and 7). Copies count
  // one each.
  if (direct_in_flight_ + shards.size() > common::limits::max_django_backlog) {
    return done(direct_outcome::too_many_waiting);
  }
  const std::string member =
      stored_member(event, local ? std::vector<std::string>{channel} : std::vector<std::string>{},
                    local ? wire::channel_field::string : wire::channel_field::none);
  if (member.empty()) return done(direct_outcome::redis_unavailable);  // the event was checked on arrival
  if (shards.size() == 1) return write_direct(shards.front(), channel, member, std::move(done));
  // Copies: one answer once every host has answered, the best of them.
  struct tally {
    std::size_t left;
    direct_outcome best = direct_outcome::redis_unavailable;
    direct_done done;
  };
  auto t = std::make_shared<tally>(tally{shards.size(), direct_outcome::redis_unavailable, std::move(done)});
  for (const std::size_t shard : shards) {
    write_direct(shard, channel, member, [this, t](direct_outcome out) {
      if (out == direct_outcome::written) {
        if (t->best == direct_outcome::written) ++stats_.copies;
        t->best = direct_outcome::written;
      } else if (out == direct_outcome::full && t->best != direct_outcome::written) {
        t->best = direct_outcome::full;
      }
      if (--t->left == 0) t->done(t->best);
    });
  }
}

void django_bridge::write_direct(std::size_t shard, const std::string& channel, const std::string& member,
                                 direct_done done) {
  const double now = common::unix_now();
  const std::string key = keys_.inbox(wire::non_local(channel));
  purge(shard, key, now);
  // ZCOUNT against the capacity, then ZADD and EXPIRE: channels_redis'
  // send() in one script (its capacity comes from the full channel name).
  redis_commands::argv argv{"EVAL",
                            wire::capacity_script,
                            "1",
                            key,
                            member,
                            std::to_string(capacity_for(channel)),
                            scores_.next(now),
                            std::to_string(cfg_.expiry_s)};
  ++direct_in_flight_;
  const bool sent = redis_.command(shard, argv, [this, channel, done](const ::redisReply* r) {
    --direct_in_flight_;
    if (!r || r->type != REDIS_REPLY_INTEGER) return done(direct_outcome::redis_unavailable);
    if (r->integer > 0) {
      ++stats_.inbox_full;
      static common::log_limiter limit;  // a sender can make this every send
      common::warn_limited(limit, "redis", "django send refused channel={} reason=\"inbox at capacity\" capacity={} full_total={}",
                           channel, capacity_for(channel), stats_.inbox_full);
      return done(direct_outcome::full);
    }
    ++stats_.written;
    done(direct_outcome::written);
  });
  if (!sent) {
    --direct_in_flight_;
    done(direct_outcome::redis_unavailable);
  }
}

}  // namespace sb::layerd
