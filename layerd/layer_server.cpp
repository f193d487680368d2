// layer_server.cpp — see layer_server.hpp.
#include "layerd/layer_server.hpp"

#include <hiredis/hiredis.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/prometheus.hpp"
#include "common/service_notify.hpp"
#include "layerd/channels_wire.hpp"
#include "layerd/pending.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::layerd {
namespace {

double unix_now() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

std::string score(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", t);
  return buf;
}

// Redis commands carry at most this many members each, so one huge group
// does not become one huge command.
constexpr std::size_t redis_batch = 1000;

}  // namespace

layer_server::layer_server(layerd_config cfg)
    : cfg_(std::move(cfg)), router_(ctx_, zmq::socket_type::router), ring_(cfg_.redis_hosts) {
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::router_handover, 1);  // a reconnecting gateway takes its id back
  router_.set(zmq::sockopt::sndhwm, 100000);
  router_.set(zmq::sockopt::rcvhwm, 100000);
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(common::limits::max_proto_body));
  try {
    router_.bind(cfg_.bind);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot bind " + cfg_.bind + ": " + e.what());
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    ring_.at(i).commands.on_connected = [this, i] {
      std::vector<bool> only(ring_.size(), false);
      only[i] = true;
      redis_rewrite(only);
    };
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  next_refresh_ = clock::now() + std::chrono::seconds(cfg_.refresh_interval_s);
}

layer_server::~layer_server() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void layer_server::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void layer_server::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  wake();
}

void layer_server::run_posted() {
  std::uint64_t v;
  [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void layer_server::run() {
  auto log = common::log("layerd");
  std::string hosts;
  for (std::size_t i = 0; i < ring_.size(); ++i) hosts.append(i ? "," : "").append(common::describe(ring_.at(i).url));
  log->info("layerd ready id={} bind={} redis={} shards={} prefix={}", cfg_.id, endpoint_, hosts, ring_.size(),
            cfg_.prefix);
  common::notify_ready("serving " + endpoint_);
  while (!stop_.load()) {
    if (reload_.exchange(false) && on_reload) on_reload();
    auto now = clock::now();
    auto wait = std::min(ring_.tick(now), std::chrono::milliseconds(250));
    tick(now);
    maybe_pop();
    auto& items = poll_items_;
    items.clear();
    items.push_back({router_.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    ring_.add_poll_items(items);  // from index 2 on
    try {
      zmq::poll(items.data(), items.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (items[0].revents & ZMQ_POLLIN) on_router_readable();
    if (items[1].revents & ZMQ_POLLIN) run_posted();
    ring_.dispatch(items, 2);
  }
  common::notify_stopping("stopping");
  log->info("layerd stopping id={}", cfg_.id);
}

void layer_server::on_router_readable() {
  auto log = common::log("layerd");
  // Drain a bounded batch so Redis and timers get their turn.
  for (int i = 0; i < 4096; ++i) {
    auto parts = proto::recv_frames(router_, 8);
    if (parts.empty()) return;
    ++stats_.messages_in;
    std::string peer = parts[0].to_string();
    if (parts.size() != 3 || parts[1].size() != 1) {
      ++stats_.malformed;
      log->warn("malformed message peer={} frames={} reason=\"expected [kind, body]\"", peer, parts.size() - 1);
      continue;
    }
    const auto k = *static_cast<const std::uint8_t*>(parts[1].data());
    handle(peer, k, std::string_view(static_cast<const char*>(parts[2].data()), parts[2].size()));
  }
}

void layer_server::handle(const std::string& peer, std::uint8_t kind, std::string_view body) {
  auto decoded = proto::decode(kind, body);
  if (!decoded) {
    ++stats_.malformed;
    common::log("layerd")->warn("malformed message peer={} kind={} error=\"{}\"", peer, proto::kind_name(kind),
                                decoded.error_text());
    reject(peer, 0, "bad_message", decoded.error_text());
    return;
  }
  if (auto g = gateways_.find(peer); g != gateways_.end()) g->second.last_seen = clock::now();
  if (auto c = clients_.find(peer); c != clients_.end()) c->second = clock::now();
  handle(peer, decoded.value());
}

void layer_server::reject(const std::string& peer, std::uint64_t request, const char* code, const std::string& text) {
  reply(peer, proto::error{request, code, text});
}

void layer_server::handle(const std::string& peer, const proto::message& m) {
  auto log = common::log("layerd");
  const bool known = gateways_.count(peer) != 0;
  // A client may publish (GROUP_SEND, SEND) and HEARTBEAT, nothing else.
  const bool may_publish = known || clients_.count(peer) != 0;
  const double now = unix_now();
  auto gateways_only = [&](std::uint64_t request) {
    if (clients_.count(peer)) {
      reject(peer, request, "bad_message", "a client has no channels; only gateways join groups");
    } else {
      reject(peer, request, "unknown_gateway", "send HELLO first");
    }
  };

  if (auto* h = std::get_if<proto::hello>(&m)) {
    if (h->major != common::limits::proto_major) {
      log->error("gateway refused peer={} reason=\"protocol {}.{}, layerd speaks {}.{}\"", peer, h->major, h->minor,
                 common::limits::proto_major, common::limits::proto_minor);
      reject(peer, 0, "version", "layerd speaks protocol major " + std::to_string(common::limits::proto_major));
      return;
    }
    if (h->gateway_id != peer || !common::is_valid_channel_name("specific." + peer + "!x")) {
      log->warn("gateway refused peer={} reason=\"bad gateway id\"", peer);
      reject(peer, 0, "bad_name", "gateway id must equal the routing id and be a valid channel prefix");
      return;
    }
    if (h->role == proto::peer_role::client) {
      if (known) forget_gateway(peer, "said HELLO again as a client");
      if (clients_.insert_or_assign(peer, clock::now()).second) {
        ++stats_.clients_seen;
        log->debug("client joined peer={}", peer);
      }
      reply(peer, proto::welcome{common::limits::proto_major, common::limits::proto_minor, cfg_.id});
      return;
    }
    clients_.erase(peer);
    if (!known) log->info("gateway joined gateway={}", peer);
    gateways_[peer].last_seen = clock::now();
    reply(peer, proto::welcome{common::limits::proto_major, common::limits::proto_minor, cfg_.id});
    return;
  }
  if (std::holds_alternative<proto::heartbeat>(m)) {
    if (!may_publish) return reject(peer, 0, "unknown_gateway", "send HELLO first");
    reply(peer, proto::heartbeat{});
    return;
  }
  if (auto* a = std::get_if<proto::group_add>(&m)) {
    if (!known) return gateways_only(a->request);
    auto parts = common::split_specific_channel(a->channel);
    if (!common::is_valid_group_name(a->group) || !common::is_valid_channel_name(a->channel) || !parts ||
        parts->gateway != peer) {
      log->warn("group_add refused gateway={} reason=\"bad group or channel name\"", peer);
      return reject(peer, a->request, "bad_name", "invalid group or channel name");
    }
    store_.add(a->group, peer, std::string(parts->conn), now);
    pending_removals_.erase({a->group, a->channel});
    redis_add(a->group, a->channel);
    reply(peer, proto::ack{a->request});
    if (keeps_pending(a->group)) send_pending(a->group, peer, std::string(parts->conn));
    return;
  }
  if (auto* d = std::get_if<proto::group_discard>(&m)) {
    if (!known) return gateways_only(0);
    auto parts = common::split_specific_channel(d->channel);
    if (!parts || parts->gateway != peer) return reject(peer, 0, "bad_name", "invalid channel name");
    if (store_.remove(d->group, peer, std::string(parts->conn))) redis_remove(d->group, d->channel);
    return;
  }
  if (auto* s = std::get_if<proto::group_send>(&m)) {
    if (!may_publish) return reject(peer, 0, "unknown_gateway", "send HELLO first");
    if (!common::is_valid_group_name(s->group)) return reject(peer, 0, "bad_name", "invalid group name");
    auto type = common::event_type(s->event);
    if (!type) {
      ++stats_.malformed;
      log->warn("group_send refused gateway={} group={} error=\"{}\"", peer, s->group, type.error_text());
      return reject(peer, 0, "bad_event", type.error_text());
    }
    group_send(s->group, s->event, type.value());
    return;
  }
  if (auto* s = std::get_if<proto::send>(&m)) {
    if (!may_publish) return reject(peer, 0, "unknown_gateway", "send HELLO first");
    auto type = common::event_type(s->event);
    if (!type) return reject(peer, 0, "bad_event", type.error_text());
    auto parts = common::split_specific_channel(s->channel);
    if (!parts || !gateways_.count(std::string(parts->gateway))) {
      log->warn("send dropped gateway={} channel={} reason=\"no such Switchboard channel\"", peer, s->channel);
      return reject(peer, 0, "no_route", "no such channel");
    }
    proto::deliver d{{std::string(parts->conn)}, s->event};
    reply(std::string(parts->gateway), d);
    return;
  }
  if (auto* s = std::get_if<proto::sync>(&m)) {
    if (!known) return gateways_only(0);
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    groups.reserve(s->groups.size());
    for (const auto& [group, channels] : s->groups) {
      if (!common::is_valid_group_name(group)) continue;
      std::vector<std::string> conns;
      for (const auto& c : channels) {
        auto parts = common::split_specific_channel(c);
        if (parts && parts->gateway == peer) conns.emplace_back(parts->conn);
      }
      groups.emplace_back(group, std::move(conns));
    }
    auto diff = store_.replace_gateway(peer, groups, now);
    for (const auto& [g, c] : diff.removed) redis_remove(g, c);
    for (const auto& [g, c] : diff.added) {
      pending_removals_.erase({g, c});
      redis_add(g, c);
    }
    log->info("gateway synced gateway={} groups={} added={} removed={}", peer, groups.size(), diff.added.size(),
              diff.removed.size());
    return;
  }
  // welcome, deliver, error, ack are layerd → gateway only.
  ++stats_.malformed;
  log->warn("unexpected message peer={} kind={}", peer, proto::kind_name(static_cast<std::uint8_t>(proto::kind_of(m))));
  reject(peer, 0, "bad_message", "unexpected message kind");
}

void layer_server::group_send(const std::string& group, const std::string& event, const std::string& type) {
  const auto t0 = clock::now();
  ++stats_.group_sends;
  fan_out(group, event);
  foreign_send(group, event);
  if (type == "notify" && keeps_pending(group)) {
    const double now = unix_now();
    store_pending(group, score(now), now, pending::random_tag(rng_) + event, 0);
  }
  const double us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  ++stats_.latency_buckets[common::histogram_bucket(stats::latency_bounds_us.data(), stats::latency_bounds_us.size(), us)];
  stats_.latency_sum_us += us;
}

void layer_server::fan_out(const std::string& group, const std::string& event) {
  const auto* members = store_.find(group);
  if (!members) return;
  // One message per gateway, encoded once: each gateway delivers to its
  // own members of the group, so this costs O(gateways) whatever the size
  // of the group.
  const auto k = static_cast<std::uint8_t>(proto::kind::group_deliver);
  const std::string body = proto::encode(proto::group_deliver{group, event});
  for (const auto& [gateway, conns] : *members) {
    if (send_raw(gateway, k, body)) ++stats_.delivers_out;
  }
}

void layer_server::reply(const std::string& peer, const proto::message& m) {
  send_raw(peer, static_cast<std::uint8_t>(proto::kind_of(m)), proto::encode(m));
}

bool layer_server::send_raw(const std::string& peer, std::uint8_t k, const std::string& body) {
  try {
    if (!router_.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++stats_.deliver_drops;
      common::log("fanout")->warn("send dropped peer={} kind={} reason=\"queue full\"", peer, proto::kind_name(k));
      return false;
    }
    router_.send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(body), zmq::send_flags::none);
    return true;
  } catch (const zmq::error_t& e) {
    ++stats_.deliver_drops;
    common::log("fanout")->warn("send dropped peer={} kind={} reason=\"{}\"", peer, proto::kind_name(k), e.what());
    return false;
  }
}

void layer_server::tick(clock::time_point now) {
  auto log = common::log("layerd");
  const auto timeout = std::chrono::milliseconds(cfg_.gateway_timeout_ms);
  std::vector<std::string> silent;
  for (const auto& [gateway, state] : gateways_) {
    if (now - state.last_seen > timeout) silent.push_back(gateway);
  }
  for (const auto& gateway : silent) {
    ++stats_.gateways_expired;
    forget_gateway(gateway, "no heartbeat");
  }
  std::erase_if(clients_, [&](const auto& c) {
    if (now - c.second <= timeout) return false;
    log->debug("client left peer={}", c.first);
    return true;
  });
  if (now >= next_foreign_sweep_) {
    next_foreign_sweep_ = now + std::chrono::seconds(10);
    for (auto it = foreign_.begin(); it != foreign_.end();) {
      const bool idle = !it->second.checking && it->second.pending.empty() &&
                        now - it->second.used > std::chrono::seconds(10);
      it = idle ? foreign_.erase(it) : std::next(it);
    }
  }
  if (now >= next_refresh_) {
    next_refresh_ = now + std::chrono::seconds(cfg_.refresh_interval_s);
    std::vector<bool> up(ring_.size());
    for (std::size_t i = 0; i < ring_.size(); ++i) up[i] = ring_.at(i).commands.connected();
    redis_rewrite(up);
  }
}

void layer_server::forget_gateway(const std::string& gateway, const char* why) {
  auto removed = store_.remove_gateway(gateway);
  for (const auto& [g, c] : removed) redis_remove(g, c);
  common::log("layerd")->warn("gateway expired gateway={} members_removed={} reason=\"{} (timeout {} ms)\"", gateway,
                              removed.size(), why, cfg_.gateway_timeout_ms);
  gateways_.erase(gateway);
}

void layer_server::redis_add(const std::string& group, const std::string& channel) {
  if (keeps_pending(group)) route_update(group, channel, true);
  const std::string key = group_key(group);
  auto& link = link_for(group);
  if (!link.command({"ZADD", key, score(unix_now()), channel})) return;  // rewritten on reconnect
  link.command({"EXPIRE", key, std::to_string(cfg_.group_expiry_s)});
}

void layer_server::redis_remove(const std::string& group, const std::string& channel) {
  if (keeps_pending(group)) route_update(group, channel, false);
  if (link_for(group).command({"ZREM", group_key(group), channel})) return;
  if (pending_removals_.size() < common::limits::max_pending_redis_removals) {
    pending_removals_.emplace(group, channel);
  } else if (!pending_overflow_warned_) {
    pending_overflow_warned_ = true;
    common::log("redis")->warn("pending removals full limit={} reason=\"redis away too long; stale members stay "
                               "until group expiry\"",
                               common::limits::max_pending_redis_removals);
  }
}

void layer_server::redis_rewrite(const std::vector<bool>& shards) {
  // Removals that happened while a shard was away, then every live member
  // of its groups with a fresh score (which also renews its channels_redis
  // lease). Groups on other shards are left alone.
  if (std::find(shards.begin(), shards.end(), true) == shards.end()) return;
  auto on_shard = [&](const std::string& group) { return shards[ring_.index_of(group)]; };
  std::size_t removals = 0, groups = 0, members = 0;
  for (auto it = pending_removals_.begin(); it != pending_removals_.end();) {
    if (!on_shard(it->first)) {
      ++it;
      continue;
    }
    link_for(it->first).command({"ZREM", group_key(it->first), it->second});
    ++removals;
    it = pending_removals_.erase(it);
  }
  if (pending_removals_.empty()) pending_overflow_warned_ = false;
  const std::string now = score(unix_now());
  const std::string expiry = std::to_string(cfg_.group_expiry_s);
  store_.for_each_group([&](const std::string& group, std::vector<std::string>&& channels) {
    if (keeps_pending(group)) rewrite_routes(group, channels, shards);
    if (!on_shard(group)) return;
    auto& link = link_for(group);
    const std::string key = group_key(group);
    for (std::size_t i = 0; i < channels.size(); i += redis_batch) {
      std::vector<std::string> argv{"ZADD", key};
      for (std::size_t j = i; j < std::min(channels.size(), i + redis_batch); ++j) {
        argv.push_back(now);
        argv.push_back(std::move(channels[j]));
      }
      link.command(argv);
    }
    link.command({"EXPIRE", key, expiry});
    ++groups;
    members += channels.size();
  });
  std::string which;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (shards[i]) which.append(which.empty() ? "" : ",").append(std::to_string(i));
  }
  common::log("redis")->info("redis membership written shards={} groups={} members={} removals={}", which, groups,
                             members, removals);
}

// ---- Django bridge ----

bool layer_server::is_ours(std::string_view channel) const {
  auto parts = common::split_specific_channel(channel);
  return parts && gateways_.count(std::string(parts->gateway)) != 0;
}

int layer_server::capacity_for(std::string_view channel) const {
  for (const auto& [pattern, cap] : cfg_.channel_capacity) {
    if (wire::glob_match(pattern, channel)) return cap;
  }
  return cfg_.capacity;
}

void layer_server::maybe_pop() {
  if (gateways_.empty()) return;
  // One BZPOPMIN over every live gateway's inbox key (channels_redis
  // puts all of a process's channels in `<prefix>specific.<id>!`), on
  // EVERY shard, not only on H(non-local name) where group_send writes:
  // channels_redis' send() to a process-specific channel hashes the full
  // channel name (channels_redis_wire.md §11.1), so a Django send() to one
  // Switchboard socket may land on any shard.
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    auto& shard = ring_.at(i);
    if (shard.pop_in_flight || !shard.pops.connected()) continue;
    if (argv.empty()) {
      argv.push_back("BZPOPMIN");
      for (const auto& [gateway, state] : gateways_) argv.push_back(cfg_.prefix + "specific." + gateway + "!");
      argv.push_back("1");
    }
    shard.pop_in_flight = shard.pops.command(argv, [this, i](const ::redisReply* r) { on_popped(i, r); });
  }
}

void layer_server::on_popped(std::size_t shard, const ::redisReply* popped) {
  ring_.at(shard).pop_in_flight = false;
  if (!popped || popped->type != REDIS_REPLY_ARRAY || popped->elements != 3) return;  // timeout, or Redis went away
  const ::redisReply* member = popped->element[1];
  if (member->type != REDIS_REPLY_STRING) return;
  auto log = common::log("layerd");
  common::result<wire::inbound> in = common::error{"member shorter than the 12-byte prefix"};
  const std::string_view stored(member->str, member->len);
  if (stored.size() > wire::prefix_bytes) {
    if (cfg_.encryption_keys.empty()) {
      in = wire::decode_body(stored.substr(wire::prefix_bytes));
    } else {
      const auto now = static_cast<std::uint64_t>(unix_now());
      auto plain = fernet::decrypt(cfg_.encryption_keys, stored.substr(wire::prefix_bytes), now,
                                   static_cast<std::uint64_t>(cfg_.expiry_s) + 10);
      in = plain ? wire::decode_body(plain.value()) : common::result<wire::inbound>(common::error{plain.error_text()});
    }
  }
  if (!in) {
    ++stats_.inbox_dropped;
    log->warn("inbox message dropped reason=\"{}\" dropped_total={}", in.error_text(), stats_.inbox_dropped);
    maybe_pop();
    return;
  }
  auto type = common::event_type(in->event);
  if (!type) {
    ++stats_.inbox_dropped;
    log->warn("inbox message dropped reason=\"{}\" dropped_total={}", type.error_text(), stats_.inbox_dropped);
    maybe_pop();
    return;
  }
  if (in->from_group_send && type.value() == "notify" && popped->element[0]->type == REDIS_REPLY_STRING &&
      popped->element[2]->type == REDIS_REPLY_STRING) {
    // Django's group_send to a notification group: keep it as pending, once
    // however many gateway inboxes (and layerds) see a copy.
    auto live = std::find_if(in->channels.begin(), in->channels.end(), [this](const std::string& c) { return is_ours(c); });
    if (live != in->channels.end()) {
      store_django_notify(std::string(popped->element[0]->str, popped->element[0]->len),
                          std::string(popped->element[2]->str, popped->element[2]->len), *live, in->event);
    }
  }
  std::unordered_map<std::string, std::vector<std::string>> per_gateway;
  std::size_t unknown = 0;
  for (const auto& c : in->channels) {
    auto parts = common::split_specific_channel(c);
    if (!parts || !gateways_.count(std::string(parts->gateway))) {
      ++unknown;
      continue;
    }
    per_gateway[std::string(parts->gateway)].emplace_back(parts->conn);
  }
  if (unknown) {
    ++stats_.inbox_dropped;
    log->warn("inbox message partly dropped reason=\"no such Switchboard channel\" channels={}", unknown);
  }
  for (auto& [gateway, conns] : per_gateway) {
    reply(gateway, proto::deliver{std::move(conns), in->event});
    ++stats_.inbox_delivered;
  }
  maybe_pop();  // keep draining while there is more
}

void layer_server::foreign_send(const std::string& group, const std::string& event) {
  auto& link = link_for(group);
  if (!link.connected()) return;  // Django members are out of reach until Redis is back
  auto& f = foreign_[group];
  f.used = clock::now();
  constexpr std::size_t max_pending = 10000;
  if (f.pending.size() >= max_pending) {
    ++stats_.foreign_full;
    f.pending.pop_front();
    common::log("redis")->warn("django delivery backlog full group={} reason=\"redis slow\"", group);
  }
  f.pending.emplace_back(f.next_seq++, event);
  // One membership check in flight per group: sends that arrive while one
  // is out wait for the next, which is asked when it returns, so it is
  // still asked after each of them arrived (a Django consumer that joined
  // before a send gets it) and busy groups cost one ZCARD per round trip,
  // not one per send.
  if (!f.checking) check_group(group, f);
}

void layer_server::check_group(const std::string& group, foreign_group& f) {
  const std::uint64_t covers = f.next_seq - 1;
  f.checking = true;
  const bool sent = link_for(group).command(
      {"ZCARD", group_key(group)}, [this, group, covers](const ::redisReply* r) { on_group_size(group, covers, r); });
  if (!sent) finish_check(group, f, covers, false);  // Redis went away: what waits for it is lost, as for any write
}

// A check (and the member read it may need) has answered for the sends up
// to `covers`: write them to the Django members, or drop them when Redis
// failed; then check again for the sends that came meanwhile.
void layer_server::finish_check(const std::string& group, foreign_group& f, std::uint64_t covers, bool answered) {
  f.checking = false;
  if (answered) {
    flush_foreign(group, covers);
  } else {
    while (!f.pending.empty() && f.pending.front().first <= covers) f.pending.pop_front();
  }
  if (!f.pending.empty()) check_group(group, f);
}

void layer_server::on_group_size(const std::string& group, std::uint64_t covers, const ::redisReply* reply) {
  auto it = foreign_.find(group);
  if (it == foreign_.end()) return;
  auto& f = it->second;
  if (!reply || reply->type != REDIS_REPLY_INTEGER) return finish_check(group, f, covers, false);
  if (reply->integer == f.known_total) return finish_check(group, f, covers, true);
  // The membership changed: read it (still "checking"); the list covers
  // every send that had arrived when it was asked for.
  const std::uint64_t now_covers = f.next_seq - 1;
  const bool sent = link_for(group).command({"ZRANGE", group_key(group), "0", "-1"},
                                            [this, group, now_covers](const ::redisReply* r) {
                                              on_group_members(group, now_covers, r);
                                            });
  if (!sent) finish_check(group, f, now_covers, false);
}

void layer_server::on_group_members(const std::string& group, std::uint64_t covers, const ::redisReply* reply) {
  auto it = foreign_.find(group);
  if (it == foreign_.end()) return;
  auto& f = it->second;
  f.members.clear();
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    f.known_total = -1;
    return finish_check(group, f, covers, false);
  }
  f.known_total = static_cast<long long>(reply->elements);
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const auto* e = reply->element[i];
    if (e->type != REDIS_REPLY_STRING) continue;
    std::string_view channel(e->str, e->len);
    if (!is_ours(channel)) f.members.emplace_back(channel);
  }
  finish_check(group, f, covers, true);
}

void layer_server::flush_foreign(const std::string& group, std::uint64_t up_to) {
  auto& f = foreign_[group];
  while (!f.pending.empty() && f.pending.front().first <= up_to) {
    write_foreign(group, f.members, f.pending.front().second);
    f.pending.pop_front();
  }
}

void layer_server::write_foreign(const std::string& group, const std::vector<std::string>& members,
                                 const std::string& event) {
  if (members.empty()) return;
  // One copy per inbox key (a Django process's channels share one), in
  // first-seen order, as channels_redis' group_send does; each key on the
  // shard of its non-local name, one purge + EVAL per shard.
  std::vector<std::string> keys;
  std::unordered_map<std::string, std::vector<std::string>> by_key;
  for (const auto& m : members) {
    std::string key = cfg_.prefix + std::string(wire::non_local(m));
    auto [pos, fresh] = by_key.try_emplace(key);
    if (fresh) keys.push_back(key);
    pos->second.push_back(m);
  }
  std::vector<std::size_t> shard_order;
  std::vector<std::vector<std::string>> keys_of(ring_.size());
  for (const auto& k : keys) {
    const std::size_t i = ring_.index_of(std::string_view(k).substr(cfg_.prefix.size()));
    if (keys_of[i].empty()) shard_order.push_back(i);
    keys_of[i].push_back(k);
  }
  const double now = unix_now();
  const std::string purge_before = std::to_string(static_cast<long long>(std::floor(now)) - cfg_.expiry_s);
  for (const std::size_t i : shard_order) {
    const auto& shard_keys = keys_of[i];
    auto& link = ring_.at(i).commands;
    std::vector<std::string> argv{"EVAL", wire::capacity_script, std::to_string(shard_keys.size())};
    for (const auto& k : shard_keys) {
      link.command({"ZREMRANGEBYSCORE", k, "0", purge_before});
      argv.push_back(k);
    }
    for (const auto& k : shard_keys) {
      auto body = wire::encode_body(event, by_key[k], wire::channel_field::array);
      if (!body) return;  // the event was checked on arrival; cannot happen
      const std::string stored =
          cfg_.encryption_keys.empty() ? body.value() : fernet::encrypt(cfg_.encryption_keys.front(), body.value());
      argv.push_back(wire::random_prefix(rng_) + stored);
    }
    // channels_redis takes a key's capacity from its first member's name.
    for (const auto& k : shard_keys) argv.push_back(std::to_string(capacity_for(by_key[k].front())));
    argv.push_back(score(now));
    argv.push_back(std::to_string(cfg_.expiry_s));
    const std::size_t n = shard_keys.size();
    link.command(argv, [this, group, n](const ::redisReply* r) {
      if (!r || r->type != REDIS_REPLY_INTEGER) return;
      stats_.foreign_written += n - static_cast<std::size_t>(r->integer);
      if (r->integer > 0) {
        stats_.foreign_full += static_cast<std::uint64_t>(r->integer);
        common::log("redis")->warn("django inboxes full group={} full={} of={} capacity={}", group, r->integer, n,
                                   cfg_.capacity);
      }
    });
  }
}

// ---- pending notifications ----

bool layer_server::keeps_pending(const std::string& group) {
  return group.rfind("notification_", 0) == 0;
}

void layer_server::store_pending(const std::string& group, const std::string& score_text, double score_value,
                                 const std::string& member, double window_s) {
  const double now = unix_now();
  if (!link_for(group).command(pending::add_argv(pending_key(group), score_text, member, score_value, window_s,
                                                 now - cfg_.pending_age_s, cfg_.pending_max, cfg_.pending_age_s))) {
    common::log("redis")->warn("pending notification not stored group={} reason=\"redis unavailable\"", group);
  }
}

void layer_server::store_django_notify(const std::string& inbox, const std::string& score_text,
                                       const std::string& channel, const std::string& event) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const std::string key = route_key(parts->gateway);
  auto& link = ring_.of(key).commands;
  const bool asked = link.command({"HGET", key, std::string(parts->conn)}, [this, inbox, score_text, event](
                                                                               const ::redisReply* r) {
    if (!r || r->type != REDIS_REPLY_STRING) return;  // not a notification socket (or Redis went away)
    const std::string group(r->str, r->len);
    char* end = nullptr;
    const double value = std::strtod(score_text.c_str(), &end);
    if (!keeps_pending(group) || !common::is_valid_group_name(group) || end == score_text.c_str()) return;
    // With several Redis hosts channels_redis writes each host's copies
    // with its own `now`: copies from other inboxes within this window are
    // the same send.
    const double window = ring_.size() > 1 ? common::limits::pending_copy_window_s : 0;
    store_pending(group, score_text, value, pending::django_tag(score_text, event, inbox) + event, window);
  });
  if (!asked) common::log("redis")->warn("pending notification not stored reason=\"redis unavailable\"");
}

void layer_server::route_update(const std::string& group, const std::string& channel, bool add) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const std::string key = route_key(parts->gateway);
  auto& link = ring_.of(key).commands;
  if (!add) {
    link.command({"HDEL", key, std::string(parts->conn)});  // if Redis is away, the key's TTL cleans up
    return;
  }
  if (link.command({"HSET", key, std::string(parts->conn), group})) {
    link.command({"EXPIRE", key, std::to_string(cfg_.group_expiry_s)});
  }
}

void layer_server::rewrite_routes(const std::string& group, const std::vector<std::string>& channels,
                                  const std::vector<bool>& shards) {
  std::set<std::string> keys;
  for (const auto& channel : channels) {
    auto parts = common::split_specific_channel(channel);
    if (!parts) continue;
    std::string key = route_key(parts->gateway);
    const std::size_t shard = ring_.index_of(key);
    if (!shards[shard]) continue;
    ring_.at(shard).commands.command({"HSET", key, std::string(parts->conn), group});
    keys.insert(std::move(key));
  }
  for (const auto& key : keys) ring_.of(key).commands.command({"EXPIRE", key, std::to_string(cfg_.group_expiry_s)});
}

void layer_server::send_pending(const std::string& group, const std::string& gateway, const std::string& conn) {
  const std::string key = pending_key(group);
  const std::string since = score(unix_now() - cfg_.pending_age_s);
  link_for(group).command({"ZRANGEBYSCORE", key, since, "+inf"}, [this, gateway, conn](const ::redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || !gateways_.count(gateway)) return;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const auto* e = r->element[i];
      if (e->type != REDIS_REPLY_STRING || e->len <= static_cast<long>(wire::prefix_bytes)) continue;
      std::string event(e->str + wire::prefix_bytes, e->len - wire::prefix_bytes);
      if (!common::event_type(event)) continue;  // not ours to trust blindly
      reply(gateway, proto::deliver{{conn}, std::move(event)});
    }
  });
}

// ---- operations for the HTTP API ----

namespace {

layer_server::api_result api_error(int status, const std::string& text) {
  return {status, nlohmann::json{{"error", text}}.dump()};
}

const layer_server::api_result api_ok{200, R"({"ok":true})"};

}  // namespace

void layer_server::api_group_send(const std::string& group, const std::string& event, api_done done) {
  if (!common::is_valid_group_name(group)) return done(api_error(400, "invalid group name"));
  auto type = common::event_type(event);
  if (!type) return done(api_error(400, type.error_text()));
  if (store_.find(group)) {
    group_send(group, event, type.value());
    return done(api_ok);
  }
  // No Switchboard member here: the group exists only if Redis knows it.
  if (!link_for(group).command({"ZCARD", group_key(group)}, [this, group, event, t = type.value(), done](const ::redisReply* r) {
        if (!r || r->type != REDIS_REPLY_INTEGER) return done(api_error(503, "redis unavailable"));
        if (r->integer == 0) return done(api_error(404, "no such group"));
        group_send(group, event, t);
        done(api_ok);
      })) {
    done(api_error(503, "redis unavailable"));
  }
}

void layer_server::api_send(const std::string& channel, const std::string& event, api_done done) {
  auto type = common::event_type(event);
  if (!type) return done(api_error(400, type.error_text()));
  if (!common::is_valid_channel_name(channel)) return done(api_error(400, "invalid channel name"));
  auto parts = common::split_specific_channel(channel);
  if (!parts || !gateways_.count(std::string(parts->gateway))) return done(api_error(404, "no such Switchboard channel"));
  reply(std::string(parts->gateway), proto::deliver{{std::string(parts->conn)}, event});
  done(api_ok);
}

void layer_server::api_group_add(const std::string& group, const std::string& channel, api_done done) {
  if (!common::is_valid_group_name(group) || !common::is_valid_channel_name(channel)) {
    return done(api_error(400, "invalid group or channel name"));
  }
  // A channel outside Switchboard (a Django consumer, a worker channel):
  // Redis only, exactly as channels_redis' group_add.
  auto& link = link_for(group);
  if (!link.command({"ZADD", group_key(group), score(unix_now()), channel})) {
    return done(api_error(503, "redis unavailable"));
  }
  link.command({"EXPIRE", group_key(group), std::to_string(cfg_.group_expiry_s)});
  if (auto f = foreign_.find(group); f != foreign_.end()) f->second.known_total = -1;  // re-read on the next send
  done(api_ok);
}

void layer_server::api_group_discard(const std::string& group, const std::string& channel, api_done done) {
  if (!common::is_valid_group_name(group) || !common::is_valid_channel_name(channel)) {
    return done(api_error(400, "invalid group or channel name"));
  }
  if (!link_for(group).command({"ZREM", group_key(group), channel})) {
    return done(api_error(503, "redis unavailable"));
  }
  if (auto f = foreign_.find(group); f != foreign_.end()) f->second.known_total = -1;
  done(api_ok);
}

void layer_server::api_groups(api_done done) {
  // Every shard in turn; bounded: the first 10,000 keys SCAN finds in a
  // few rounds is plenty for a tool.
  auto names = std::make_shared<std::set<std::string>>();
  auto step = std::make_shared<std::function<void(std::size_t, std::string, int)>>();
  const std::string pattern = cfg_.prefix + ":group:*";
  const std::size_t strip = cfg_.prefix.size() + 7;
  *step = [this, names, step, pattern, strip, done](std::size_t shard, std::string cursor, int rounds) {
    auto finish = [done, step](api_result r) {
      done(std::move(r));
      *step = nullptr;  // break the self-reference
    };
    const bool sent = ring_.at(shard).commands.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"},
                                                       [names, step, strip, shard, rounds, finish,
                                                        shards = ring_.size()](const ::redisReply* r) {
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return finish(api_error(503, "redis unavailable"));
      const auto* keys = r->element[1];
      for (std::size_t i = 0; i < keys->elements && names->size() < 10000; ++i) {
        names->insert(std::string(keys->element[i]->str, keys->element[i]->len).substr(strip));
      }
      std::string next(r->element[0]->str, r->element[0]->len);
      const bool full = rounds >= 1000 || names->size() >= 10000;
      if (next != "0" && !full) return (*step)(shard, next, rounds + 1);
      if (shard + 1 < shards && !full) return (*step)(shard + 1, "0", rounds + 1);
      finish({200, nlohmann::json{{"groups", std::vector<std::string>(names->begin(), names->end())}}.dump()});
    });
    if (!sent) finish(api_error(503, "redis unavailable"));
  };
  (*step)(0, "0", 0);
}

void layer_server::api_members(const std::string& group, api_done done) {
  if (!common::is_valid_group_name(group)) return done(api_error(400, "invalid group name"));
  if (!link_for(group).command({"ZRANGE", group_key(group), "0", "-1"}, [done](const ::redisReply* r) {
        if (!r || r->type != REDIS_REPLY_ARRAY) return done(api_error(503, "redis unavailable"));
        if (r->elements == 0) return done(api_error(404, "no such group"));
        std::vector<std::string> members;
        for (std::size_t i = 0; i < r->elements; ++i) members.emplace_back(r->element[i]->str, r->element[i]->len);
        done({200, nlohmann::json{{"members", members}}.dump()});
      })) {
    done(api_error(503, "redis unavailable"));
  }
}

void layer_server::api_metrics(api_done done) {
  common::prometheus_text p;
  auto add = [&p](const char* name, const char* type, const char* help, double value) { p.single(name, type, help, value); };
  const auto rs = ring_.totals();
  add("switchboard_layerd_gateways", "gauge", "Gateways with a live link.", static_cast<double>(gateways_.size()));
  add("switchboard_layerd_clients", "gauge", "Publishing clients (switchboard-cli, backends) heard from recently; not gateways.", static_cast<double>(clients_.size()));
  add("switchboard_layerd_clients_total", "counter", "Client HELLOs (peers that publish and are not gateways).", static_cast<double>(stats_.clients_seen));
  add("switchboard_layerd_groups", "gauge", "Groups with Switchboard members owned here.", static_cast<double>(store_.group_count()));
  add("switchboard_layerd_members", "gauge", "Switchboard members of those groups.", static_cast<double>(store_.member_count()));
  add("switchboard_layerd_messages_in_total", "counter", "ZeroMQ messages received.", static_cast<double>(stats_.messages_in));
  add("switchboard_layerd_malformed_total", "counter", "Malformed or refused ZeroMQ messages.", static_cast<double>(stats_.malformed));
  add("switchboard_layerd_group_sends_total", "counter", "group_sends fanned out.", static_cast<double>(stats_.group_sends));
  add("switchboard_layerd_delivers_out_total", "counter", "GROUP_DELIVERs sent to gateways (one per gateway per group_send).", static_cast<double>(stats_.delivers_out));
  add("switchboard_layerd_deliver_drops_total", "counter", "Messages to gateways dropped (unreachable or queue full).", static_cast<double>(stats_.deliver_drops));
  add("switchboard_layerd_gateways_expired_total", "counter", "Gateways forgotten after missing heartbeats.", static_cast<double>(stats_.gateways_expired));
  add("switchboard_layerd_django_inbox_delivered_total", "counter", "Messages from Django popped from gateway inboxes and delivered.", static_cast<double>(stats_.inbox_delivered));
  add("switchboard_layerd_django_inbox_dropped_total", "counter", "Undecodable or untargeted inbox messages dropped.", static_cast<double>(stats_.inbox_dropped));
  add("switchboard_layerd_django_written_total", "counter", "Messages written to Django consumers' inboxes.", static_cast<double>(stats_.foreign_written));
  add("switchboard_layerd_django_full_total", "counter", "Django inboxes found at capacity (message skipped).", static_cast<double>(stats_.foreign_full));
  add("switchboard_layerd_redis_up", "gauge", "1 when the link to every Redis host is connected.", ring_.all_connected() ? 1 : 0);
  add("switchboard_layerd_redis_commands_total", "counter", "Redis commands sent.", static_cast<double>(rs.commands));
  add("switchboard_layerd_redis_errors_total", "counter", "Redis error replies.", static_cast<double>(rs.errors));
  add("switchboard_layerd_redis_dropped_total", "counter", "Redis commands not sent because Redis was away.", static_cast<double>(rs.dropped));
  add("switchboard_layerd_redis_connects_total", "counter", "Redis connections made.", static_cast<double>(rs.reconnects));
  add("switchboard_layerd_redis_rtt_milliseconds", "gauge", "Slowest round trip of the last Redis PINGs (every 5 s per host); -1 before the first.", ring_.worst_rtt_ms());
  add("switchboard_layerd_redis_shards", "gauge", "Redis hosts configured (channels_redis hosts).", static_cast<double>(ring_.size()));
  // Per host, labelled by its position in the list (the channels_redis
  // shard index) and its address (never the password).
  auto per_shard = [&](const char* name, const char* type, const char* help, auto value) {
    p.family(name, type, help);
    for (std::size_t i = 0; i < ring_.size(); ++i) {
      p.sample(name, static_cast<double>(value(ring_.at(i))),
               std::string("{shard=\"")
                   .append(std::to_string(i))
                   .append("\",address=\"")
                   .append(common::prometheus_text::label_value(common::describe(ring_.at(i).url)))
                   .append("\"}"));
    }
  };
  per_shard("switchboard_layerd_redis_shard_up", "gauge", "1 when the link to this Redis host is connected.",
            [](const redis_ring::shard& s) { return s.commands.connected() ? 1 : 0; });
  per_shard("switchboard_layerd_redis_shard_rtt_milliseconds", "gauge",
            "Round trip of the last PING to this Redis host (every 5 s); -1 before the first.",
            [](const redis_ring::shard& s) { return s.rtt_ms; });
  per_shard("switchboard_layerd_redis_shard_commands_total", "counter", "Redis commands sent to this host.",
            [](const redis_ring::shard& s) { return s.commands.counters().commands; });
  per_shard("switchboard_layerd_redis_shard_connects_total", "counter", "Connections made to this Redis host.",
            [](const redis_ring::shard& s) { return s.commands.counters().reconnects; });
  std::array<double, stats::latency_bounds_us.size()> bounds_s{};
  for (std::size_t i = 0; i < bounds_s.size(); ++i) bounds_s[i] = stats::latency_bounds_us[i] / 1e6;
  p.histogram("switchboard_layerd_group_send_seconds",
              "Time layerd spends on a group_send (receive to the last GROUP_DELIVER queued).", bounds_s.data(),
              stats_.latency_buckets.data(), bounds_s.size(), stats_.latency_sum_us / 1e6);
  done({200, p.take()});
}

}  // namespace sb::layerd
