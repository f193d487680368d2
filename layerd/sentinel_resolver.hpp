// sentinel_resolver.hpp — where one Sentinel shard's Redis master is now.
//
// A shard named by sentinel:// (common/redis_url.hpp) has no fixed address:
// its master is whatever the sentinels say, and changes when they fail it
// over. This asks them the way channels_redis' Sentinel pool does
// (docs/django.md, "Redis Sentinel"): the sentinels in order, the first
// that answers for the master name with a master that is neither
// subjectively nor objectively down wins and moves to the front of the
// list; a sentinel that cannot be reached, errs, does not know the name,
// reports the master down, or does not answer within a bound is skipped
// for the next. It asks again every second, at once when a sentinel
// publishes +switch-master for this name (a second connection to each
// sentinel stays subscribed to it), and at once when a link doubts its
// master (lost, READONLY, LOADING, ROLE not master). The message only
// triggers the question: the answer still comes from the rule above. Each sentinel has its own redis_link, so the
// asking is as non-blocking as every other Redis command
// (docs/architecture.md, rule 3). When the answer changes, on_switch lets
// the shard's links reconnect to the new master, whose membership layerd
// then rewrites (rule 9).
//
// Threading: everything runs on the layerd loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log_limiter.hpp"
#include "common/redis_url.hpp"
#include "layerd/redis_link.hpp"

struct redisReply;

namespace sb::layerd {

class sentinel_resolver {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t switches = 0;        // the master changed after one was known
    std::uint64_t queries = 0;         // questions sent to a sentinel
    std::uint64_t failed_rounds = 0;   // no sentinel named a usable master
  };

  // How long a sentinel may take to answer, and how often to ask when all is well.
  static constexpr std::chrono::milliseconds answer_timeout{2000};
  static constexpr std::chrono::milliseconds recheck_interval{1000};
  static constexpr std::chrono::milliseconds retry_interval{250};  // after a round that found none

  sentinel_resolver(const common::redis_url& url, std::size_t shard);
  sentinel_resolver(const sentinel_resolver&) = delete;
  sentinel_resolver& operator=(const sentinel_resolver&) = delete;

  // The master last named by a sentinel; nothing before the first answer.
  const std::optional<common::redis_endpoint>& master() const { return master_; }
  // A link found the master wrong or gone: ask again now.
  void doubt(const char* why);
  // The master changed: `old` is empty for the first one.
  std::function<void(const std::optional<common::redis_endpoint>& old, const common::redis_endpoint& now)> on_switch;

  // Reconnects sentinels and asks when due; returns how long the loop may sleep.
  std::chrono::milliseconds tick(clock::time_point now);
  // Every connection to the sentinels (questions and +switch-master
  // subscriptions), for the poll loop.
  std::vector<redis_link*> links();
  std::size_t sentinels_connected() const;
  const stats& counters() const { return stats_; }

  // Whether a SENTINEL MASTER reply names a usable master, and where
  // (common/sentinel_master.hpp).
  static std::optional<common::redis_endpoint> usable_master(const ::redisReply* reply);

 private:
  void start_round(clock::time_point now);
  void ask_next(clock::time_point now);
  void on_answer(std::size_t sentinel, const ::redisReply* reply);
  void round_failed(clock::time_point now);
  void on_watch_message(const ::redisReply* reply);

  const std::size_t shard_;
  const std::string master_name_;
  std::vector<std::unique_ptr<redis_link>> links_;  // one per sentinel, in the URL's order
  std::vector<std::unique_ptr<redis_link>> watches_;  // one per sentinel, subscribed to +switch-master
  std::vector<std::size_t> order_;                   // who to ask first (the last good one leads)
  std::optional<common::redis_endpoint> master_;
  bool asking_ = false;        // a round is under way
  std::size_t pos_ = 0;        // its place in order_
  std::uint64_t question_ = 0; // the id of the question awaited; a late answer to an older one is ignored
  bool waiting_ = false;       // a question is out
  bool again_ = false;         // ask again as soon as this round ends
  clock::time_point deadline_{};
  clock::time_point round_started_{};
  clock::time_point next_round_{};
  std::string last_reason_;  // why the last sentinel asked gave no master
  common::log_limiter failure_limit_;
  stats stats_;
};

}  // namespace sb::layerd
