// sentinel_resolver.cpp — see sentinel_resolver.hpp.
#include "layerd/sentinel_resolver.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <string_view>

#include "common/logging.hpp"
#include "common/sentinel_master.hpp"

namespace sb::layerd {
namespace {

std::string_view text(const ::redisReply* r) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

}  // namespace

sentinel_resolver::sentinel_resolver(const common::redis_url& url, std::size_t shard)
    : shard_(shard), master_name_(url.master_name) {
  for (const auto& s : url.sentinels) {
    common::redis_url one;
    one.host = s.host;
    one.port = s.port;
    one.password = url.sentinel_password;
    links_.push_back(std::make_unique<redis_link>(one));
    links_.back()->log_error_replies = false;  // answers are judged (and logged, limited) here
    order_.push_back(order_.size());
    watches_.push_back(std::make_unique<redis_link>(one));
    watches_.back()->log_error_replies = false;
    redis_link* w = watches_.back().get();
    w->on_connected = [this, w] {
      w->subscribe("+switch-master", [this](const ::redisReply* r) { on_watch_message(r); });
    };
  }
  next_round_ = clock::now();
}

std::vector<redis_link*> sentinel_resolver::links() {
  std::vector<redis_link*> out;
  out.reserve(links_.size() + watches_.size());
  for (auto& l : links_) out.push_back(l.get());
  for (auto& w : watches_) out.push_back(w.get());
  return out;
}

void sentinel_resolver::on_watch_message(const ::redisReply* r) {
  // ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || text(r->element[0]) != "message") return;
  const std::string_view payload = text(r->element[2]);
  if (payload.substr(0, payload.find(' ')) != master_name_) return;
  doubt("+switch-master");
}

std::size_t sentinel_resolver::sentinels_connected() const {
  return static_cast<std::size_t>(
      std::count_if(links_.begin(), links_.end(), [](const auto& l) { return l->connected(); }));
}

std::optional<common::redis_endpoint> sentinel_resolver::usable_master(const ::redisReply* reply) {
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0 ||
      reply->elements > common::max_sentinel_reply_fields) {
    return std::nullopt;
  }
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  fields.reserve(reply->elements / 2);
  for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
    fields.emplace_back(text(reply->element[i]), text(reply->element[i + 1]));
  }
  return common::usable_sentinel_master(fields);
}

void sentinel_resolver::doubt(const char* why) {
  common::log("redis")->debug("redis master in doubt shard={} master_name={} reason=\"{}\"", shard_, master_name_, why);
  if (asking_) again_ = true;  // the answer under way may predate what caused the doubt
  else next_round_ = clock::now();
}

std::chrono::milliseconds sentinel_resolver::tick(clock::time_point now) {
  auto wait = std::chrono::milliseconds(1000);
  for (auto& l : links_) wait = std::min(wait, l->tick(now));
  for (auto& w : watches_) wait = std::min(wait, w->tick(now));
  if (asking_ && waiting_ && now >= deadline_) {
    waiting_ = false;
    ++question_;  // its answer, if it ever comes, is ignored
    last_reason_ = "sentinel did not answer in time";
    ++pos_;
    ask_next(now);
  } else if (asking_ && !waiting_) {
    ask_next(now);  // waiting for a sentinel to connect
  } else if (!asking_ && now >= next_round_) {
    start_round(now);
  }
  const auto until = asking_ ? (waiting_ ? deadline_ : now + std::chrono::milliseconds(20)) : next_round_;
  return std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(until - now) + std::chrono::milliseconds(1));
}

void sentinel_resolver::start_round(clock::time_point now) {
  asking_ = true;
  last_reason_ = "sentinel did not answer in time";
  pos_ = 0;
  round_started_ = now;
  ask_next(now);
}

void sentinel_resolver::ask_next(clock::time_point now) {
  bool connecting = false;
  for (; pos_ < order_.size(); ++pos_) {
    redis_link& link = *links_[order_[pos_]];
    if (!link.connected()) {
      connecting = connecting || link.fd() >= 0;
      continue;
    }
    const std::size_t sentinel = order_[pos_];
    const std::uint64_t q = ++question_;
    if (link.command({"SENTINEL", "MASTER", master_name_}, [this, sentinel, q](const ::redisReply* r) {
          if (q == question_ && waiting_) on_answer(sentinel, r);
        })) {
      ++stats_.queries;
      waiting_ = true;
      deadline_ = now + answer_timeout;
      return;
    }
  }
  // Every sentinel was asked or is away. One still connecting (just
  // started, or back) gets until the answer bound before the round fails.
  if (connecting && now - round_started_ < answer_timeout) {
    pos_ = 0;
    return;
  }
  round_failed(now);
}

void sentinel_resolver::on_answer(std::size_t sentinel, const ::redisReply* reply) {
  waiting_ = false;
  const auto now = clock::now();
  auto found = usable_master(reply);
  if (!found) {
    if (!reply) last_reason_ = "sentinel connection lost";
    else if (reply->type == REDIS_REPLY_ERROR) last_reason_.assign(reply->str, std::min<std::size_t>(reply->len, 120));
    else last_reason_ = "master down (s_down/o_down) or not a master";
    ++pos_;
    ask_next(now);
    return;
  }
  // The sentinel that knew leads the next round: it swaps places with the
  // first, as channels_redis' Sentinel pool does.
  std::iter_swap(order_.begin(), std::find(order_.begin(), order_.end(), sentinel));
  asking_ = false;
  next_round_ = again_ ? now : now + recheck_interval;
  again_ = false;
  if (master_ && *master_ == *found) return;
  auto old = master_;
  master_ = *found;
  auto log = common::log("redis");
  if (old) {
    ++stats_.switches;
    log->warn("redis master switched shard={} master_name={} old={} new={} sentinel={} switches_total={}", shard_,
              master_name_, common::describe(*old), common::describe(*master_),
              common::describe(links_[sentinel]->endpoint()), stats_.switches);
  } else {
    log->info("redis master found shard={} master_name={} master={} sentinel={}", shard_, master_name_,
              common::describe(*master_), common::describe(links_[sentinel]->endpoint()));
  }
  if (on_switch) on_switch(old, *master_);
}

void sentinel_resolver::round_failed(clock::time_point now) {
  asking_ = false;
  ++stats_.failed_rounds;
  const std::size_t reachable = sentinels_connected();
  common::warn_limited(failure_limit_, "redis",
                       "redis master unknown shard={} master_name={} reason=\"{}\" sentinels={} reachable={} "
                       "known_master={} failed_rounds_total={}",
                       shard_, master_name_, reachable ? last_reason_ : std::string("no sentinel reachable"),
                       links_.size(), reachable, master_ ? common::describe(*master_) : std::string("none"),
                       stats_.failed_rounds);
  // No growing backoff: while the master is down the sentinels are about
  // to name a new one, and each try costs one small command per shard.
  next_round_ = again_ ? now : now + retry_interval;
  again_ = false;
}

}  // namespace sb::layerd
