// status_pages.cpp — see status_pages.hpp.
#include "gateway/status_pages.hpp"

#include <array>

#include <nlohmann/json.hpp>

#include "common/prometheus.hpp"
#include "gateway/hub.hpp"
#include "gateway/worker_registry.hpp"
#include "gateway/layer_link.hpp"

namespace sb::gateway {

std::string health_json(const server_context& ctx, bool& ok) {
  const auto up = ctx.link.links_up();
  const bool draining = ctx.draining.load();
  ok = up > 0 && !draining;
  nlohmann::json j = {
      {"status", draining ? "draining" : (ok ? "ok" : "unavailable")},
      {"gateway", ctx.gateway_id},
      {"layerd_links_up", up},
      {"layerd_links", ctx.link.links()},
      {"connections", ctx.hub_ref.connections()},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx.started)
                       .count()},
  };
  return j.dump() + "\n";
}

std::string metrics_text(const server_context& ctx) {
  common::prometheus_text p;
  auto metric = [&p](const char* name, std::uint64_t value, const char* labels = "") {
    p.sample(name, static_cast<double>(value), labels);
  };
  auto head = [&p](const char* name, const char* type, const char* help) { p.family(name, type, help); };
  // A family with one unlabelled sample.
  auto one = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
    head(name, type, help);
    metric(name, value);
  };
  const auto& st = ctx.stats;
  const auto& link = ctx.link.counters();
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };

  one("switchboard_gateway_connections", "gauge", "Open WebSocket connections.", ctx.hub_ref.connections());
  one("switchboard_gateway_handshakes_total", "counter", "WebSocket handshakes accepted.", v(st.handshakes));
  head("switchboard_gateway_handshake_refusals_total", "counter", "WebSocket handshakes refused, by reason.");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_not_found), "{reason=\"not_found\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_unavailable), "{reason=\"layer_unavailable\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_bad_handshake), "{reason=\"bad_handshake\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_bad_query), "{reason=\"bad_query\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_origin), "{reason=\"origin\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_auth), "{reason=\"auth\"}");
  head("switchboard_gateway_auth_refusals_total", "counter",
       "WebSocket handshakes refused by the token check (the auth refusals above), by reason.");
  for (std::size_t i = 0; i < auth_refusal_count; ++i) {
    const std::string label = "{reason=\"" + std::string(auth_refusal_name(static_cast<auth_refusal>(i))) + "\"}";
    metric("switchboard_gateway_auth_refusals_total", v(st.auth_refusals[i]), label.c_str());
  }
  head("switchboard_gateway_history_query_refusals_total", "counter",
       "WebSocket handshakes refused with 400 for a bad ?history= or ?since=, by reason.");
  for (std::size_t i = 0; i < join_query_refusal_count; ++i) {
    const std::string label =
        "{reason=\"" + std::string(join_query_refusal_name(static_cast<join_query_refusal>(i))) + "\"}";
    metric("switchboard_gateway_history_query_refusals_total", v(st.join_query_refusals[i]), label.c_str());
  }
  one("switchboard_gateway_history_replays_total", "counter", "Sockets that asked for a history replay.",
      v(st.history_replays));
  one("switchboard_gateway_history_replayed_total", "counter", "Messages replayed from room history.",
      v(st.history_replayed));
  one("switchboard_gateway_history_duplicates_dropped_total", "counter",
      "Live messages held during a replay and dropped because the replay had them.", v(st.history_duplicates));
  one("switchboard_gateway_history_unanswered_total", "counter",
      "Replays layerd did not answer (none up, link lost, refused, or --history-timeout-ms passed).",
      v(st.history_unanswered));
  one("switchboard_gateway_history_incomplete_total", "counter",
      "Recovery frames sent with complete=false.", v(st.history_incomplete));
  one("switchboard_gateway_history_timeouts_total", "counter",
      "HISTORY_GETs given up after --history-timeout-ms.", v(link.history_timed_out));
  head("switchboard_gateway_ws_checks_total", "counter",
       "POST /ws-check answers (a page asking whether its WebSocket handshake would be let in), by status.");
  for (std::size_t i = 0; i < ws_check_status_count; ++i) {
    const std::string label = "{status=\"" + std::to_string(ws_check_statuses[i]) + "\"}";
    metric("switchboard_gateway_ws_checks_total", v(st.ws_checks[i]), label.c_str());
  }
  one("switchboard_gateway_bad_requests_total", "counter",
      "HTTP requests refused with 400 as malformed (request line, Host, framing, limits).", v(st.bad_requests));
  one("switchboard_gateway_frames_in_total", "counter", "Text frames received from clients.", v(st.frames_in));
  one("switchboard_gateway_frames_out_total", "counter",
      "Frames written to clients (fan-out deliveries and control frames).", v(st.frames_out));
  one("switchboard_gateway_deliveries_dropped_total", "counter",
      "Deliveries dropped because the connection's send queue was full (overload; see --slow-consumer-ms).",
      v(st.deliveries_dropped));
  one("switchboard_gateway_connections_behind", "gauge",
      "Connections whose send queue is full and has not drained to half its bounds since.",
      v(st.connections_behind));
  one("switchboard_gateway_socket_writes_total", "counter",
      "Writes to WebSocket clients; frames_out / socket_writes is the frames sent per write.", v(st.socket_writes));
  one("switchboard_gateway_bytes_in_total", "counter", "Bytes read from WebSocket clients.", v(st.bytes_in));
  one("switchboard_gateway_bytes_out_total", "counter", "Bytes written to WebSocket clients.", v(st.bytes_out));
  one("switchboard_gateway_error_frames_total", "counter",
      "Client frames answered with an error frame (bad_json, bad_message, not_accepted).", v(st.bad_frames));
  one("switchboard_gateway_pings_total", "counter",
      "Heartbeat pings from clients of built-in routes, each answered with a pong frame.", v(st.pings));
  head("switchboard_gateway_closes_total", "counter",
       "Connections closed, by reason (peer_closed: the client began the close handshake).");
  for (const auto r : all_close_reasons()) {
    const std::string label = "{reason=\"" + std::string(describe(r).metric) + "\"}";
    metric("switchboard_gateway_closes_total", v(st.closes[static_cast<std::size_t>(r)]), label.c_str());
  }
  one("switchboard_gateway_tls_handshakes_total", "counter",
      "TLS handshakes completed (with --tls-cert).", v(st.tls_handshakes));
  head("switchboard_gateway_tls_failures_total", "counter", "Connections to the TLS port that failed, by reason.");
  metric("switchboard_gateway_tls_failures_total", v(st.tls_failures), "{reason=\"handshake\"}");
  metric("switchboard_gateway_tls_failures_total", v(st.tls_plain_http), "{reason=\"plain_http\"}");
  one("switchboard_gateway_group_sends_total", "counter", "group_sends passed to layerd.", v(link.group_sends));
  one("switchboard_gateway_group_sends_dropped_total", "counter",
      "group_sends dropped because no layerd was available.", v(link.dropped_no_layerd));
  one("switchboard_gateway_delivers_in_total", "counter",
      "Deliveries received from layerd (each framed once).", v(link.delivers_in));
  one("switchboard_gateway_batch_dones_total", "counter",
      "BATCH_DONEs sent to a sole layerd (the worker batches it asked about are applied).", v(link.batch_dones));
  one("switchboard_gateway_layer_malformed_total", "counter",
      "Malformed messages from layerd.", v(link.malformed_in));
  one("switchboard_gateway_unknown_targets_total", "counter",
      "Deliveries for connections that no longer exist.", ctx.hub_ref.unknown_targets());
  one("switchboard_gateway_layerd_links_up", "gauge", "layerd links up.", ctx.link.links_up());
  one("switchboard_gateway_layerd_links", "gauge", "layerd links configured.", ctx.link.links());
  one("switchboard_gateway_layerd_reconnects_total", "counter",
      "layerd links re-created (a new DEALER and connection) after the layerd stopped answering.",
      v(link.links_reopened));
  one("switchboard_gateway_group_sends_refused_total", "counter",
      "group_sends refused because too many were not yet acknowledged by layerd (the client got an error frame).",
      v(link.sends_refused));
  one("switchboard_gateway_group_sends_resent_total", "counter",
      "group_sends re-sent to a group's new owner after its layerd went down unacknowledged.", v(link.sends_resent));
  one("switchboard_gateway_worker_sends_timed_out_total", "counter",
      "SENDs to Django workers that layerd did not answer within --send-timeout-ms (failed as refused).",
      v(link.channel_sends_timed_out));
  one("switchboard_gateway_duplicates_dropped_total", "counter",
      "Group deliveries dropped as already delivered (re-sent after a failover).", v(link.duplicates_dropped));
  one("switchboard_gateway_group_sends_unacked", "gauge",
      "group_sends kept until a layerd acknowledges them.", ctx.link.unacked_messages());
  {  // Django routes (docs/protocol.md, Part 3)
    using wc = gateway_stats::worker_counters;
    const auto& w = st.workers;
    head("switchboard_gateway_worker_connects_total", "counter",
         "Sockets on django:NAME routes handed to a worker, by outcome.");
    const char* outcomes[] = {"{outcome=\"accepted\"}", "{outcome=\"refused\"}", "{outcome=\"timeout\"}",
                              "{outcome=\"unavailable\"}"};
    for (std::size_t i = 0; i < wc::connect_outcomes; ++i) metric("switchboard_gateway_worker_connects_total", v(w.connects[i]), outcomes[i]);
    one("switchboard_gateway_worker_sockets", "gauge", "Sockets a Django worker accepted, open now.",
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, w.sockets.load(std::memory_order_relaxed))));
    head("switchboard_gateway_worker_messages_total", "counter", "Messages to and from Django workers.");
    metric("switchboard_gateway_worker_messages_total", v(w.to_worker), "{direction=\"to_worker\"}");
    metric("switchboard_gateway_worker_messages_total", v(w.from_worker), "{direction=\"from_worker\"}");
    head("switchboard_gateway_worker_batches_total", "counter", "switchboard.batch messages to and from Django workers.");
    metric("switchboard_gateway_worker_batches_total", v(w.batches_to_worker), "{direction=\"to_worker\"}");
    metric("switchboard_gateway_worker_batches_total", v(w.batches_from_worker), "{direction=\"from_worker\"}");
    one("switchboard_gateway_worker_events_rendered_total", "counter",
        "Events for Django sockets rendered by the gateway from their RENDER (no message to the worker).",
        v(w.events_rendered));
    one("switchboard_gateway_worker_events_forwarded_total", "counter",
        "Events for Django sockets sent to their worker as switchboard.event.", v(w.events_forwarded));
    one("switchboard_gateway_worker_events_by_layerd_total", "counter",
        "Events for Django sockets that the group's layerd wrote to their worker itself (none sent from here).",
        v(w.events_by_layerd));
    one("switchboard_gateway_worker_group_sends_by_layerd_total", "counter",
        "Workers' group_sends that this gateway's sole layerd applied where it popped their batch (none sent from here).",
        v(w.group_sends_by_layerd));
    one("switchboard_gateway_worker_group_sends_by_layerd_ahead_total", "counter",
        "Of those, group_sends that reached the socket's door ahead of an earlier message of their socket.",
        v(w.group_sends_by_layerd_ahead));
    head("switchboard_gateway_worker_dropped_total", "counter", "Worker messages dropped, by reason.");
    const char* reasons[] = {"{reason=\"unknown_socket\"}", "{reason=\"bad_message\"}", "{reason=\"out_of_order\"}",
                             "{reason=\"send_failed\"}", "{reason=\"before_accept\"}", "{reason=\"wrong_worker\"}"};
    for (std::size_t i = 0; i < wc::drop_reasons; ++i) metric("switchboard_gateway_worker_dropped_total", v(w.dropped[i]), reasons[i]);
    one("switchboard_gateway_workers_lost_total", "counter",
        "Django worker processes declared gone (silent for --worker-timeout-ms); their sockets closed with 1012.",
        v(w.workers_lost));
    one("switchboard_gateway_workers", "gauge", "Django worker processes holding sockets on this gateway.",
        ctx.workers ? ctx.workers->workers() : 0);
  }
  one("switchboard_gateway_draining", "gauge",
      "1 while the gateway drains after SIGTERM.", ctx.draining.load() ? 1 : 0);
  {
    const auto h = ctx.hub_ref.flush_times();
    std::array<double, hub::flush_bounds_ms.size()> bounds_s{};
    for (std::size_t i = 0; i < bounds_s.size(); ++i) bounds_s[i] = hub::flush_bounds_ms[i] / 1000.0;
    p.histogram("switchboard_gateway_flush_seconds",
                "Time to write one event-loop pass's queued frames (every socket with frames, once).", bounds_s.data(),
                h.buckets.data(), bounds_s.size(), h.sum_ms / 1000.0);
  }
  one("switchboard_gateway_uptime_seconds", "gauge", "Seconds since start.",
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx.started).count()));
  return p.take();
}

std::string presence_json(const std::string& group, const proto::presence_state& st) {
  nlohmann::json users = nlohmann::json::array();
  for (const auto& u : st.users) {
    nlohmann::json one{{"id", u.id}, {"name", u.name}};
    if (u.guest) one["guest"] = true;
    users.push_back(std::move(one));
  }
  const nlohmann::json body{{"group", group}, {"count", st.count}, {"users", std::move(users)}, {"truncated", st.truncated}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace sb::gateway
