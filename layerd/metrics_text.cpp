// metrics_text.cpp — see metrics_text.hpp.
#include "layerd/metrics_text.hpp"

#include <array>

#include "common/prometheus.hpp"

namespace sb::layerd {

std::string metrics_text::render() const {
  common::prometheus_text p;
  auto add = [&p](const char* name, const char* type, const char* help, auto value) {
    p.single(name, type, help, static_cast<double>(value));
  };
  const auto& r = router_.counters();
  const auto& b = bridge_.counters();
  const auto rs = ring_.totals();
  add("switchboard_layerd_gateways", "gauge", "Gateways with a live link.", peers_.gateways().size());
  add("switchboard_layerd_clients", "gauge", "Publishing clients (switchboard-cli, backends) heard from recently; not gateways.", peers_.client_count());
  add("switchboard_layerd_clients_total", "counter", "Client HELLOs (peers that publish and are not gateways).", r.clients_seen);
  add("switchboard_layerd_groups", "gauge", "Groups with Switchboard members owned here.", members_.group_count());
  add("switchboard_layerd_members", "gauge", "Switchboard members of those groups.", members_.member_count());
  add("switchboard_layerd_messages_in_total", "counter", "ZeroMQ messages received.", r.messages_in);
  add("switchboard_layerd_malformed_total", "counter", "Malformed or refused ZeroMQ messages.", r.malformed);
  add("switchboard_layerd_events_refused_total", "counter",
      "GROUP_SEND and SEND events refused: malformed or over the event bounds (also in malformed_total).",
      r.events_refused);
  add("switchboard_layerd_group_sends_total", "counter", "group_sends fanned out.", r.group_sends);
  add("switchboard_layerd_delivers_out_total", "counter", "GROUP_DELIVERs sent to gateways (one per gateway per group_send).", r.delivers_out);
  add("switchboard_layerd_worker_events_total", "counter",
      "switchboard.event messages written to Django workers for their gateways' sockets (one per worker per group_send).",
      r.worker_events);
  add("switchboard_layerd_worker_event_sockets_total", "counter",
      "Sockets those worker events named (events their gateways did not have to forward).", r.worker_event_sockets);
  add("switchboard_layerd_worker_event_sockets_dropped_total", "counter",
      "Sockets whose worker event could not be written (inbox full, Redis unavailable).", r.worker_event_sockets_dropped);
  add("switchboard_layerd_worker_routes_refused_total", "counter",
      "Members' worker routes that were not valid (their gateway forwards their events itself).",
      router_.workers().counters().routes_refused);
  add("switchboard_layerd_worker_members", "gauge", "Members whose events layerd writes to their worker.",
      router_.workers().member_count());
  const auto& popped = router_.popped().counters();
  add("switchboard_layerd_worker_group_sends_applied_total", "counter",
      "Workers' group_sends of sole gateways applied where their batch was popped.", popped.applied);
  add("switchboard_layerd_worker_group_sends_left_total", "counter",
      "Workers' group_sends of sole gateways left to the gateway (the socket's earlier group messages were on their way there, or no worker known).",
      popped.left);
  add("switchboard_layerd_batch_dones_total", "counter", "BATCH_DONE messages taken from sole gateways.", popped.batch_dones);
  add("switchboard_layerd_popped_send_marks", "gauge",
      "Sockets whose group_sends wait for a BATCH_DONE before layerd applies them.", router_.popped().marked());
  add("switchboard_layerd_deliver_drops_total", "counter", "Messages to gateways dropped (unreachable or queue full).", peers_.counters().send_drops);
  add("switchboard_layerd_gateways_expired_total", "counter", "Gateways forgotten after missing heartbeats.", r.gateways_expired);
  if (const auto* p = router_.presence_unit()) {
    const auto& ps = p->counters();
    add("switchboard_layerd_presence_groups", "gauge", "Groups whose users presence counts here.", p->group_count());
    add("switchboard_layerd_presence_changes_total", "counter", "Debounced presence change events sent (one per group per window with a net change).", ps.changes_sent);
    add("switchboard_layerd_presence_snapshots_total", "counter", "Presence snapshots sent to joining watchers.", ps.snapshots_sent);
    add("switchboard_layerd_presence_frames_total", "counter", "Watching sockets reached by presence events and snapshots.", ps.frames_out);
    add("switchboard_layerd_presence_not_counted_total", "counter", "Sockets over a group's presence bound, members but not counted.", ps.not_counted);
  }
  add("switchboard_layerd_django_inbox_delivered_total", "counter", "Messages from Django popped from gateway inboxes and delivered.", b.inbox_delivered);
  add("switchboard_layerd_django_inbox_dropped_total", "counter", "Undecodable or untargeted inbox messages dropped.", b.inbox_dropped);
  add("switchboard_layerd_django_written_total", "counter", "Messages written to Django consumers' inboxes.", b.written);
  add("switchboard_layerd_django_send_copies_total", "counter", "Extra copies of sends written on every Redis host (a django: route's connects, one per host beyond the first).", b.copies);
  add("switchboard_layerd_django_full_total", "counter", "Django inboxes found at capacity: a group_send skipped them, a send was refused with channel_full.", b.inbox_full);
  add("switchboard_layerd_django_backlog_dropped_total", "counter", "group_sends to Django consumers dropped because the group's backlog waiting for Redis was full (Redis slow).", b.backlog_dropped);
  const auto& h = history_.counters();
  add("switchboard_layerd_history_stored_total", "counter", "Chat messages added to their room's history stream.", h.stored);
  add("switchboard_layerd_history_store_failed_total", "counter", "Chat messages stamped but not kept in history (Redis away or refusing the id, or an event at the size bound).", h.store_failed);
  add("switchboard_layerd_history_waited_total", "counter", "Sends that waited for their room's last history id (the first send after start or SYNC).", h.waited);
  add("switchboard_layerd_history_clock_only_total", "counter", "Waits for a room's last history id given up (no answer in time, or too many waiting): ids from the clock alone.", h.clock_only);
  add("switchboard_layerd_history_reads_total", "counter", "HISTORY_GETs answered from a history stream.", h.reads);
  add("switchboard_layerd_history_reads_failed_total", "counter", "HISTORY_GETs Redis could not answer (answered complete=false).", h.reads_failed);
  add("switchboard_layerd_redis_up", "gauge", "1 when the link to every Redis host is connected.", ring_.all_connected() ? 1 : 0);
  add("switchboard_layerd_redis_commands_total", "counter", "Redis commands sent.", rs.commands);
  add("switchboard_layerd_redis_errors_total", "counter", "Redis error replies.", rs.errors);
  add("switchboard_layerd_redis_dropped_total", "counter", "Redis commands not sent because Redis was away.", rs.dropped);
  add("switchboard_layerd_redis_connects_total", "counter", "Redis connections made.", rs.reconnects);
  add("switchboard_layerd_redis_rtt_milliseconds", "gauge", "Slowest round trip of the last Redis PINGs (every 5 s per host); -1 before the first.", ring_.worst_rtt_ms());
  add("switchboard_layerd_redis_shards", "gauge", "Redis hosts configured (channels_redis hosts).", ring_.size());
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
  // Sentinel shards (docs/operations.md, "Redis Sentinel"): the master
  // each follows, its switches, and how many of its sentinels answer.
  std::uint64_t switches = 0;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    if (ring_.at(i).sentinel) switches += ring_.at(i).sentinel->counters().switches;
  }
  add("switchboard_layerd_redis_master_switches_total", "counter",
      "Redis master switches followed on Sentinel shards (the sentinels named a new master).", switches);
  auto per_sentinel_shard = [&](const char* name, const char* type, const char* help, auto value, auto extra) {
    p.family(name, type, help);
    for (std::size_t i = 0; i < ring_.size(); ++i) {
      const auto& s = ring_.at(i);
      if (!s.sentinel) continue;
      p.sample(name, static_cast<double>(value(*s.sentinel)),
               std::string("{shard=\"")
                   .append(std::to_string(i))
                   .append("\",address=\"")
                   .append(common::prometheus_text::label_value(common::describe(s.url)))
                   .append("\"")
                   .append(extra(*s.sentinel))
                   .append("}"));
    }
  };
  auto none = [](const sentinel_resolver&) { return std::string(); };
  per_sentinel_shard("switchboard_layerd_redis_shard_master_switches_total", "counter",
                     "Master switches followed on this Sentinel shard.",
                     [](const sentinel_resolver& r) { return r.counters().switches; }, none);
  per_sentinel_shard("switchboard_layerd_redis_shard_sentinels_up", "gauge",
                     "Sentinels of this Sentinel shard with a live connection.",
                     [](const sentinel_resolver& r) { return r.sentinels_connected(); }, none);
  per_sentinel_shard("switchboard_layerd_redis_shard_master", "gauge",
                     "1 with the master the sentinels named last (master=\"host:port\"); 0 with master=\"\" before any.",
                     [](const sentinel_resolver& r) { return r.master() ? 1 : 0; },
                     [](const sentinel_resolver& r) {
                       return std::string(",master=\"")
                           .append(r.master() ? common::prometheus_text::label_value(common::describe(*r.master()))
                                              : std::string())
                           .append("\"");
                     });
  // Peers refused by the CURVE checks (layerd/zap_auth.hpp); zeros without keys.
  p.family("switchboard_layerd_auth_refused_total", "counter",
           "Handshakes and messages refused on the ZeroMQ port: no CURVE, unknown or banned key, a routing id or "
           "kind the key may not use.");
  const auto refused = peers_.auth() ? peers_.auth()->refused() : std::array<std::uint64_t, zap_auth::reason_count>{};
  for (std::size_t i = 0; i < zap_auth::reason_count; ++i) {
    p.sample("switchboard_layerd_auth_refused_total", static_cast<double>(refused[i]),
             std::string("{reason=\"") + zap_auth::reason_name(static_cast<zap_auth::reason>(i)) + "\"}");
  }
  using stats = router::stats;
  std::array<double, stats::latency_bounds_us.size()> bounds_s{};
  for (std::size_t i = 0; i < bounds_s.size(); ++i) bounds_s[i] = stats::latency_bounds_us[i] / 1e6;
  p.histogram("switchboard_layerd_group_send_seconds",
              "Time layerd spends on a group_send (receive to the last GROUP_DELIVER queued).", bounds_s.data(),
              r.latency_buckets.data(), bounds_s.size(), r.latency_sum_us / 1e6);
  return p.take();
}

}  // namespace sb::layerd
