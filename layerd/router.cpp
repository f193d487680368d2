// router.cpp — see router.hpp.
#include "layerd/router.hpp"

#include <algorithm>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/channels_keys.hpp"
#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/prometheus.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::layerd {

namespace lim = common::limits;

router::router(const layerd_config& cfg, peers& peers, membership& members, django_bridge& bridge,
               room_history& history)
    : cfg_(cfg), peers_(peers), members_(members), bridge_(bridge), history_(history) {
  workers_.gateway_check([this](const std::string& process) {
    return peers_.is_gateway(process) || is_switchboard_process_id(process);
  });
  bridge_.on_popped([this](const std::string& gateway, const std::vector<std::string>& conns, const std::string& event) {
    return on_popped(gateway, conns, event);
  });
}

void router::on_readable() {
  // Drain a bounded batch so Redis and timers get their turn.
  for (int i = 0; i < 4096; ++i) {
    auto parts = proto::recv_frames(peers_.socket(), 8);
    if (parts.empty()) break;
    ++stats_.messages_in;
    std::string peer = parts[0].to_string();
    if (parts.size() != 3 || parts[1].size() != 1) {
      ++stats_.malformed;
      static common::log_limiter limit_0;
      common::warn_limited(limit_0, "layerd", "malformed message peer={} frames={} reason=\"expected [kind, body]\"", peer,
                                  parts.size() - 1);
      continue;
    }
    const auto k = *static_cast<const std::uint8_t*>(parts[1].data());
    const std::string_view body(static_cast<const char*>(parts[2].data()), parts[2].size());
    // With CURVE, each message's key must be allowed this routing id and kind (layerd/zap_auth.hpp).
    if (auto* auth = peers_.auth()) {
      if (auto refused = auth->check(peer, parts[1], body)) {
        reject(peer, 0, "forbidden", *refused);
        continue;
      }
    }
    handle(peer, k, body);
  }
  flush_acks();
}

void router::flush_acks() {
  // One SEND_ACK per gateway per batch, never one per message: the batch's
  // fan-outs are all with ZeroMQ by now (docs/protocol.md, SEND_ACK).
  for (const auto& [peer, seq] : acks_) {
    if (auto h = held_acks_.find(peer); h != held_acks_.end()) {
      h->second.seq = std::max(h->second.seq, seq);  // goes when its waiting sends are out
      continue;
    }
    peers_.reply(peer, proto::send_ack{seq});
  }
  acks_.clear();
}

void router::handle(const std::string& peer, std::uint8_t kind, std::string_view body) {
  auto decoded = proto::decode(kind, body);
  if (!decoded) {
    ++stats_.malformed;
    static common::log_limiter limit_1;
    common::warn_limited(limit_1, "layerd", "malformed message peer={} kind={} error=\"{}\"", peer, proto::kind_name(kind),
                                decoded.error_text());
    return reject(peer, 0, "bad_message", decoded.error_text());
  }
  peers_.heard(peer, clock::now());
  const auto& m = decoded.value();
  const bool may_publish = peers_.is_gateway(peer) || peers_.is_client(peer);
  if (auto* h = std::get_if<proto::hello>(&m)) return on_hello(peer, *h);
  if (auto* a = std::get_if<proto::group_add>(&m)) return on_group_add(peer, *a);
  if (auto* d = std::get_if<proto::group_discard>(&m)) return on_group_discard(peer, *d);
  if (auto* s = std::get_if<proto::sync>(&m)) return on_sync(peer, *s);
  if (auto* d = std::get_if<proto::batch_done>(&m)) {
    if (!peers_.is_gateway(peer)) return refuse_non_gateway(peer, 0);
    return popped_.done(peer, *d);
  }
  if (auto* g = std::get_if<proto::presence_get>(&m)) {
    if (!may_publish) return reject(peer, g->request, "unknown_gateway", "send HELLO first");
    return on_presence_get(peer, *g);
  }
  // A client may publish (GROUP_SEND, SEND) and HEARTBEAT, nothing else.
  const bool publishes = std::holds_alternative<proto::heartbeat>(m) || std::holds_alternative<proto::group_send>(m) ||
                         std::holds_alternative<proto::send>(m);
  if (publishes && !may_publish) return reject(peer, 0, "unknown_gateway", "send HELLO first");
  if (std::holds_alternative<proto::heartbeat>(m)) {
    // Answered when the SENDs before it are (waits_); past the bound, at once.
    if (auto w = waits_.find(peer); w != waits_.end() && w->second.heartbeats.size() < lim::max_django_backlog) {
      w->second.heartbeats.push_back(w->second.issued);
      return;
    }
    return peers_.reply(peer, proto::heartbeat{});
  }
  if (auto* s = std::get_if<proto::group_send>(&m)) {
    on_group_send(peer, *s);
    // Acked whatever became of it (fanned out, or refused with an ERROR):
    // the gateway keeps it until then (docs/architecture.md, rule 7).
    if (s->seq != 0 && peers_.is_gateway(peer)) acks_[peer] = s->seq;
    return;
  }
  if (auto* s = std::get_if<proto::send>(&m)) return on_send(peer, *s);
  if (auto* h = std::get_if<proto::history_get>(&m)) {
    if (!may_publish) return reject(peer, h->request, "unknown_gateway", "send HELLO first");
    return on_history_get(peer, *h);
  }
  // welcome, deliver, error, ack are layerd → gateway only.
  ++stats_.malformed;
  static common::log_limiter limit_2;
  common::warn_limited(limit_2, "layerd", "unexpected message peer={} kind={}", peer,
                              proto::kind_name(static_cast<std::uint8_t>(proto::kind_of(m))));
  reject(peer, 0, "bad_message", "unexpected message kind");
}

void router::on_hello(const std::string& peer, const proto::hello& h) {
  auto log = common::log("layerd");
  if (h.major != lim::proto_major) {
    log->error("gateway refused peer={} reason=\"protocol {}.{}, layerd speaks {}.{}\"", peer, h.major, h.minor,
               lim::proto_major, lim::proto_minor);
    return reject(peer, 0, "version", "layerd speaks protocol major " + std::to_string(lim::proto_major));
  }
  if (h.gateway_id != peer || !common::is_valid_channel_name("specific." + peer + "!x")) {
    log->warn("gateway refused peer={} reason=\"bad gateway id\"", peer);
    return reject(peer, 0, "bad_name", "gateway id must equal the routing id and be a valid channel prefix");
  }
  if (h.role == proto::peer_role::client) {
    if (peers_.is_gateway(peer)) forget_gateway(peer, "said HELLO again as a client");
    popped_.forget(peer);
    if (peers_.hello_client(peer, clock::now())) {
      ++stats_.clients_seen;
      log->debug("client joined peer={}", peer);
    }
  } else {
    if (peers_.hello_gateway(peer, clock::now())) log->info("gateway joined gateway={} sole={}", peer, h.sole);
    // A new connection either way: what this layerd applies of its workers'
    // batches starts afresh (popped_sends.hpp).
    popped_.hello(peer, h.sole && h.minor >= 6);
  }
  peers_.reply(peer, proto::welcome{lim::proto_major, lim::proto_minor, cfg_.id});
}

void router::on_group_add(const std::string& peer, const proto::group_add& a) {
  if (!peers_.is_gateway(peer)) return refuse_non_gateway(peer, a.request);
  auto parts = common::split_specific_channel(a.channel);
  if (!common::is_valid_group_name(a.group) || !common::is_valid_channel_name(a.channel) || !parts ||
      parts->gateway != peer) {
    static common::log_limiter limit_3;
    common::warn_limited(limit_3, "layerd", "group_add refused gateway={} reason=\"bad group or channel name\"", peer);
    return reject(peer, a.request, "bad_name", "invalid group or channel name");
  }
  // The user goes to presence just before the join its hook hears; the
  // snapshot a watcher gets then goes out before this ACK.
  if (presence_ && a.user) presence_->expect(a.group, a.channel, *a.user);
  const std::string conn(parts->conn);
  // A gateway restates a member with its worker once the worker accepted
  // it (1.5): nobody joins then, so the join's hooks (pending
  // notifications' replay) do not run again.
  if (!a.worker || !members_.has(a.group, peer, conn)) members_.add(a.group, peer, conn, a.channel, common::unix_now());
  workers_.set(a.group, peer, conn, a.channel, a.worker);
  peers_.reply(peer, proto::ack{a.request});
}

void router::on_group_discard(const std::string& peer, const proto::group_discard& d) {
  if (!peers_.is_gateway(peer)) return refuse_non_gateway(peer, 0);
  auto parts = common::split_specific_channel(d.channel);
  if (!parts || parts->gateway != peer) return reject(peer, 0, "bad_name", "invalid channel name");
  members_.discard(d.group, peer, std::string(parts->conn), d.channel);
  workers_.remove(d.group, peer, std::string(parts->conn));
}

void router::on_group_send(const std::string& peer, const proto::group_send& s) {
  if (!common::is_valid_group_name(s.group)) return reject(peer, 0, "bad_name", "invalid group name");
  auto type = common::event_type(s.event);
  if (!type) return refuse_event(peer, "group_send", s.group, type.error_text());
  const bool acked = s.seq != 0 && peers_.is_gateway(peer);
  group_send(s.group, s.event, type.value(), s.id != 0 ? peer : std::string(), s.id, acked ? peer : std::string());
}

void router::on_history_get(const std::string& peer, const proto::history_get& h) {
  if (!common::is_valid_group_name(h.group)) return reject(peer, h.request, "bad_name", "invalid group name");
  const std::uint64_t request = h.request;
  if (!history_.setting_for(h.group)) return peers_.reply(peer, proto::history{request, false, {}});
  history_.read(h.group, h.count, h.since, [this, peer, request](bool complete, std::vector<std::string> events) {
    if (!peers_.is_gateway(peer) && !peers_.is_client(peer)) return;  // gone meanwhile
    peers_.reply(peer, proto::history{request, complete, std::move(events)});
  });
}

void router::refuse_event(const std::string& peer, const char* what, const std::string& to, const std::string& why,
                          std::uint64_t request) {
  ++stats_.malformed;
  ++stats_.events_refused;
  static common::log_limiter limit;
  common::warn_limited(limit, "layerd", "{} refused peer={} to={} error=\"{}\"", what, peer, to, why);
  reject(peer, request, "bad_event", why);
}

void router::on_send(const std::string& peer, const proto::send& s) {
  auto type = common::event_type(s.event);
  if (!type) return refuse_event(peer, "send", s.channel, type.error_text(), s.request);
  // Only a client waits for the outcome before its HEARTBEAT is answered
  // (switchboard-cli); a gateway's heartbeats never wait for Redis.
  std::uint64_t number = 0;
  if (peers_.is_client(peer)) {
    auto& w = waits_[peer];
    number = ++w.issued;
    w.outstanding.insert(number);
  }
  // A SEND with a request (1.3, a gateway's messages to Django workers)
  // learns its outcome either way: ACK when written or delivered, ERROR
  // with the request when refused (docs/protocol.md, Part 3, Liveness).
  const std::uint64_t request = s.request;
  send(
      s.channel, s.event,
      [this, peer, number, request](send_outcome out) {
        if (!out.code.empty()) {
          reject(peer, request, out.code.c_str(), out.text);
        } else if (request != 0) {
          peers_.reply(peer, proto::ack{request});
        }
        if (number != 0) send_answered(peer, number);
      },
      (s.flags & proto::send_every_host) != 0);
}

void router::send_answered(const std::string& peer, std::uint64_t number) {
  auto it = waits_.find(peer);
  if (it == waits_.end()) return;
  auto& w = it->second;
  w.outstanding.erase(number);
  while (!w.heartbeats.empty() && (w.outstanding.empty() || *w.outstanding.begin() > w.heartbeats.front())) {
    peers_.reply(peer, proto::heartbeat{});
    w.heartbeats.pop_front();
  }
  if (w.outstanding.empty()) waits_.erase(it);
}

void router::send(const std::string& channel, const std::string& event, send_done done, bool every_host) {
  if (!common::is_valid_channel_name(channel)) {
    static common::log_limiter limit_4;
    common::warn_limited(limit_4, "layerd", "send refused channel={:.100} reason=\"invalid channel name\"", channel);
    return done({"bad_name", "invalid channel name"});
  }
  // `specific.<process>!<local>`: the process is a live gateway (its
  // socket <local> gets a DELIVER), or a Switchboard one that is gone
  // (nothing reads its inbox: layerd polls live gateways' only), or a
  // Django process. A gateway's bare inbox `specific.<gateway>!` is no
  // socket. Any other channel is Django's: a worker channel, or a
  // process-local one (docs/django.md, Sending to Django channels).
  constexpr std::string_view specific = "specific.";
  const auto bang = channel.find('!');
  const std::string process = channel.compare(0, specific.size(), specific) == 0 && bang != std::string::npos
                                  ? channel.substr(specific.size(), bang - specific.size())
                                  : std::string();
  if (!process.empty() && peers_.is_gateway(process) && bang + 1 < channel.size()) {
    peers_.reply(process, proto::deliver{{channel.substr(bang + 1)}, event});
    return done({});
  }
  if (!process.empty() && (peers_.is_gateway(process) || is_switchboard_process_id(process))) {
    static common::log_limiter limit_5;
    common::warn_limited(limit_5, "layerd", "send dropped channel={} reason=\"no such Switchboard channel\"", channel);
    return done({"no_route", "no such Switchboard channel (its gateway is gone)"});
  }
  bridge_.send_to_channel(channel, event, [channel, done](django_bridge::direct_outcome out) {
    using o = django_bridge::direct_outcome;
    if (out == o::written) return done({});
    if (out == o::full) return done({"channel_full", "channel " + channel + " is at capacity"});
    static common::log_limiter limit_6;
    if (out == o::too_many_waiting) {
      common::warn_limited(limit_6, "redis", "django send refused channel={} reason=\"too many sends waiting for redis\"",
                           channel);
      return done({"redis_unavailable", "redis too slow: too many sends waiting; channel " + channel + " not written"});
    }
    common::warn_limited(limit_6, "redis", "django send failed channel={} reason=\"redis unavailable\"", channel);
    done({"redis_unavailable", "redis unavailable: channel " + channel + " not written"});
  }, every_host);
}

void router::on_sync(const std::string& peer, const proto::sync& s) {
  if (!peers_.is_gateway(peer)) return refuse_non_gateway(peer, 0);
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  std::vector<std::pair<std::string, std::vector<worker_members::member>>> with_workers;
  groups.reserve(s.groups.size());
  for (std::size_t i = 0; i < s.groups.size(); ++i) {
    const auto& [group, channels] = s.groups[i];
    if (!common::is_valid_group_name(group)) continue;
    const auto* users = presence_ && i < s.users.size() ? &s.users[i] : nullptr;
    const auto* workers = i < s.workers.size() && !s.workers[i].empty() ? &s.workers[i] : nullptr;
    std::vector<std::string> conns;
    std::vector<worker_members::member> routed;
    for (std::size_t j = 0; j < channels.size(); ++j) {
      auto parts = common::split_specific_channel(channels[j]);
      if (!parts || parts->gateway != peer) continue;
      conns.emplace_back(parts->conn);
      // Counted silently: a SYNC restates members, nobody came (presence.hpp).
      if (users && j < users->size() && (*users)[j]) presence_->expect(group, channels[j], *(*users)[j]);
      if (workers && j < workers->size() && (*workers)[j]) routed.push_back({conns.back(), channels[j], *(*workers)[j]});
    }
    if (!routed.empty()) with_workers.emplace_back(group, std::move(routed));
    groups.emplace_back(group, std::move(conns));
  }
  workers_.replace_gateway(peer, with_workers);
  const std::unordered_set<std::string> moved(s.moved.begin(), s.moved.end());
  const auto diff = members_.sync(peer, groups, common::unix_now(), moved);
  // Ownership changed somewhere: a group that moved here may have ids from
  // its former owner's clock in its stream.
  history_.forget_ids();
  if (presence_) presence_->clear_expected();
  common::log("layerd")->info("gateway synced gateway={} groups={} added={} removed={} moved_away={}", peer,
                              groups.size(), diff.added.size(), diff.removed.size(), moved.size());
}

void router::on_presence_get(const std::string& peer, const proto::presence_get& g) {
  if (!common::is_valid_group_name(g.group)) return reject(peer, g.request, "bad_name", "invalid group name");
  if (!presence_) return reject(peer, g.request, "bad_message", "presence is not kept by this layerd");
  peers_.reply(peer, presence_->state(g.request, g.group));
}

void router::group_send(const std::string& group, const std::string& event, const std::string& type,
                        const std::string& origin, std::uint64_t id, const std::string& ack_of) {
  const auto t0 = clock::now();
  ++stats_.group_sends;
  const history_setting* kept = room_history::keeps(type) ? history_.setting_for(group) : nullptr;
  if (!kept) return fan_out(group, event, type, origin, id, t0);
  if (auto* room = history_.ready(group)) {  // the usual case: no closure, nothing copied
    const auto st = history_.stamp(*room, event);
    fan_out(group, st.line, type, origin, id, t0);
    if (st.kept) history_.store(*room, *kept, event, st.id);
    return;
  }
  // Set when this send waits (and so counts in held_acks_).
  auto held = std::make_shared<bool>(false);
  auto then = [this, group, type, origin, id, ack_of, t0, held](const std::string& stamped) {
    fan_out(group, stamped, type, origin, id, t0);
    if (!*held) return;
    auto h = held_acks_.find(ack_of);
    if (h == held_acks_.end() || --h->second.waiting > 0) return;
    if (h->second.seq != 0 && peers_.is_gateway(ack_of)) peers_.reply(ack_of, proto::send_ack{h->second.seq});
    held_acks_.erase(h);
  };
  const bool now = history_.send(group, *kept, event, std::move(then));
  if (!now && !ack_of.empty()) {
    ++held_acks_[ack_of].waiting;
    *held = true;
  }
}

void router::fan_out(const std::string& group, const std::string& event, std::string_view type,
                     const std::string& origin, std::uint64_t id, clock::time_point t0) {
  if (const auto* members = members_.find(group)) {
    // Events for members whose consumer runs in a worker and whose gateway
    // does not render them go to the worker from here (worker_members.hpp);
    // their gateway hears which, in its GROUP_DELIVER.
    auto plan = workers_.plan_for(group, event, type);
    for (auto& w : plan.writes) write_worker_event(std::move(w));
    // One message per gateway, encoded once: each gateway delivers to its
    // own members of the group, so this costs O(gateways) whatever the
    // size of the group (a gateway with forwarded members gets its own).
    const auto k = static_cast<std::uint8_t>(proto::kind::group_deliver);
    const std::string body = proto::encode(proto::group_deliver{group, event, origin, id});
    for (const auto& [gateway, conns] : *members) {
      auto fw = plan.forwarded.find(gateway);
      const bool sent = fw == plan.forwarded.end()
                            ? peers_.send_raw(gateway, k, body)
                            : peers_.send_raw(gateway, k, proto::encode(proto::group_deliver{group, event, origin, id,
                                                                                           std::move(fw->second)}));
      if (sent) ++stats_.delivers_out;
    }
  }
  bridge_.send(group, event);
  members_.sent(group, event, type);
  const double us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  ++stats_.latency_buckets[common::histogram_bucket(stats::latency_bounds_us.data(), stats::latency_bounds_us.size(), us)];
  stats_.latency_sum_us += us;
}

bool router::on_popped(const std::string& gateway, const std::vector<std::string>& conns, const std::string& event) {
  if (!popped_.sole(gateway)) return false;
  if (conns.size() == 1 && conns[0] == common::control_conn) return deliver_control(gateway, event);
  // Sent to the socket alone (switchboard_django sends a message too big
  // for a batch so): a group operation, or what cannot be told from one,
  // goes through the gateway's door, so the socket's later group_sends
  // wait for it. Anything else (a send(), an event from Django) does not.
  auto type = common::event_type(event);
  if (!type || type.value().rfind("switchboard.group_", 0) == 0) {
    for (const auto& conn : conns) popped_.unbatched(gateway, conn);
  }
  return false;
}

bool router::deliver_control(const std::string& gateway, const std::string& event) {
  auto batch = common::worker_wire::decode_group_ops(event);
  if (!batch) return false;  // a worker's heartbeat, or a batch the gateway refuses whole
  auto p = popped_.plan_for(gateway, *batch, [this, &gateway](const std::string& group, const std::string& conn) {
    return workers_.worker_of(group, gateway, conn);
  });
  // The batch first: what it carries before a group_send (a socket's own
  // send) reaches the gateway ahead of that send's GROUP_DELIVER, on this
  // one link, as when the gateway applied the group_send itself.
  peers_.reply(gateway, proto::deliver{{std::string(common::control_conn)}, event, std::move(p.applied), p.serial});
  for (auto& s : p.sends) group_send(s.group, s.event, s.type);
  return true;
}

void router::write_worker_event(worker_members::write w) {
  ++stats_.worker_events;
  stats_.worker_event_sockets += w.sockets;
  bridge_.send_to_channel(w.worker, w.message, [this, worker = w.worker, n = w.sockets](django_bridge::direct_outcome out) {
    if (out == django_bridge::direct_outcome::written) return;
    // The event is lost for each socket it named, as a gateway's failed SEND (docs/protocol.md, Part 3, Liveness).
    stats_.worker_event_sockets_dropped += n;
    static common::log_limiter limit;
    common::warn_limited(limit, "layerd", "worker event dropped worker={} sockets={} reason=\"{}\" dropped_total={}", worker,
                         n, out == django_bridge::direct_outcome::full ? "channel full" : "redis unavailable",
                         stats_.worker_event_sockets_dropped);
  });
}

void router::tick(clock::time_point now) {
  for (const auto& gateway : peers_.expire(now, std::chrono::milliseconds(cfg_.gateway_timeout_ms))) {
    ++stats_.gateways_expired;
    forget_gateway(gateway, "no heartbeat");
  }
}

void router::refuse_non_gateway(const std::string& peer, std::uint64_t request) {
  if (peers_.is_client(peer)) return reject(peer, request, "bad_message", "a client has no channels; only gateways join groups");
  reject(peer, request, "unknown_gateway", "send HELLO first");
}

void router::reject(const std::string& peer, std::uint64_t request, const char* code, const std::string& text) {
  peers_.reply(peer, proto::error{request, code, text});
}

void router::forget_gateway(const std::string& gateway, const char* why) {
  const std::size_t removed = members_.forget_gateway(gateway);
  workers_.forget_gateway(gateway);
  popped_.forget(gateway);
  common::log("layerd")->warn("gateway expired gateway={} members_removed={} reason=\"{} (timeout {} ms)\"", gateway,
                              removed, why, cfg_.gateway_timeout_ms);
  peers_.forget_gateway(gateway);
  acks_.erase(gateway);
  held_acks_.erase(gateway);
}

}  // namespace sb::layerd
