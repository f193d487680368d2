// redis_ring.cpp — see redis_ring.hpp.
#include "layerd/redis_ring.hpp"

#include <algorithm>

#include "common/redis_shard.hpp"

namespace sb::layerd {

redis_ring::shard::shard(const common::redis_url& u, std::size_t index) : url(u), commands(u), pops(u) {
  if (!u.is_sentinel()) return;
  sentinel = std::make_unique<sentinel_resolver>(u, index);
  sentinel_resolver* r = sentinel.get();
  for (redis_link* link : {&commands, &pops}) {
    link->follow_master([r] { return r->master(); }, [r](const char* why) { r->doubt(why); });
  }
  r->on_switch = [this](const std::optional<common::redis_endpoint>&, const common::redis_endpoint&) {
    commands.reconnect_now("redis master switched");
    pops.reconnect_now("redis master switched");
  };
}

redis_ring::redis_ring(const std::vector<common::redis_url>& urls) {
  shards_.reserve(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) shards_.push_back(std::make_unique<shard>(urls[i], i));
}

std::size_t redis_ring::index_of(std::string_view name) const { return common::redis_shard(name, shards_.size()); }

bool redis_ring::all_connected() const {
  return std::all_of(shards_.begin(), shards_.end(), [](const auto& s) { return s->commands.connected(); });
}

redis_link::stats redis_ring::totals() const {
  redis_link::stats sum;
  for (const auto& s : shards_) {
    const auto& c = s->commands.counters();
    sum.commands += c.commands;
    sum.errors += c.errors;
    sum.dropped += c.dropped;
    sum.reconnects += c.reconnects;
  }
  return sum;
}

double redis_ring::worst_rtt_ms() const {
  double worst = -1;
  for (const auto& s : shards_) worst = std::max(worst, s->rtt_ms);
  return worst;
}

std::chrono::milliseconds redis_ring::tick(clock::time_point now) {
  auto wait = std::chrono::milliseconds(1000);
  for (auto& s : shards_) {
    if (s->sentinel) wait = std::min(wait, s->sentinel->tick(now));
    wait = std::min({wait, s->commands.tick(now), s->pops.tick(now)});
    if (now >= s->next_ping && s->commands.connected()) {
      s->next_ping = now + std::chrono::seconds(5);
      shard* sp = s.get();
      s->commands.command({"PING"}, [sp, sent = clock::now()](const ::redisReply* r) {
        if (r) sp->rtt_ms = std::chrono::duration<double, std::milli>(clock::now() - sent).count();
      });
    }
  }
  return wait;
}

void redis_ring::add_poll_items(std::vector<zmq::pollitem_t>& items) {
  polled_.clear();
  for (auto& s : shards_) {
    for (redis_link* link : {&s->commands, &s->pops}) {
      if (link->fd() < 0) continue;
      items.push_back({nullptr, link->fd(), link->events(), 0});
      polled_.push_back(link);
    }
    if (!s->sentinel) continue;
    for (redis_link* link : s->sentinel->links()) {
      if (link->fd() < 0) continue;
      items.push_back({nullptr, link->fd(), link->events(), 0});
      polled_.push_back(link);
    }
  }
}

bool redis_ring::busy() const {
  return std::any_of(shards_.begin(), shards_.end(),
                     [](const auto& s) { return s->commands.busy(true) || s->pops.busy(false); });
}

void redis_ring::hurry() {
  for (auto& s : shards_) s->commands.hurry();
}

void redis_ring::dispatch(const std::vector<zmq::pollitem_t>& items, std::size_t first) {
  for (std::size_t k = 0; k < polled_.size() && first + k < items.size(); ++k) {
    if (items[first + k].revents) polled_[k]->on_ready(items[first + k].revents);
  }
}

}  // namespace sb::layerd
