// http_session.cpp — see http_session.hpp.
#include "gateway/http_session.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/prometheus.hpp"
#include "common/names.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/pages.hpp"
#include "gateway/router.hpp"
#include "gateway/websocket_session.hpp"
#include "gateway/ws_handshake.hpp"

namespace beast = boost::beast;
namespace http = beast::http;

namespace sb::gateway {

http_session::http_session(boost::asio::ip::tcp::socket socket, server_context& ctx, std::size_t thread)
    : stream_(std::move(socket)), deadline_(stream_.get_executor()), ctx_(ctx), thread_(thread) {}

void http_session::run() {
  tls_context_ = ctx_.tls.get();
  if (!tls_context_) return do_read();
  // A TLS port: peek at the first byte before anything else, so a plain
  // request gets an answer it can read instead of a failed handshake.
  set_timeout(std::chrono::seconds(10));
  stream_.socket().async_wait(boost::asio::ip::tcp::socket::wait_read,
                              beast::bind_front_handler(&http_session::on_first_bytes, shared_from_this()));
}

void http_session::set_timeout(std::chrono::steady_clock::duration d) {
  if (!tls_context_) return stream_.expires_after(d);
  deadline_.expires_after(d);
  deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    if (auto self = weak.lock()) self->end_connection();  // whatever waits on the socket ends
  });
}

void http_session::clear_timeout() {
  if (!tls_context_) return stream_.expires_never();
  deadline_.cancel();
}

void http_session::on_first_bytes(beast::error_code ec) {
  if (ec) return end_connection();  // silent, gone or too slow
  unsigned char first = 0;
  beast::error_code rec;
  const std::size_t n = stream_.socket().receive(boost::asio::buffer(&first, 1),
                                                 boost::asio::socket_base::message_peek, rec);
  if (rec || n == 0) return end_connection();
  if (first != 0x16) {  // not a TLS handshake record
    clear_timeout();
    ctx_.stats.tls_plain_http.fetch_add(1, std::memory_order_relaxed);
    common::log("http")->debug("plain HTTP on the TLS port client={}", client_of(request{}).first);
    tls_context_.reset();
    stream_.expires_after(std::chrono::seconds(10));
    request dummy;
    dummy.version(11);
    auto res = make(http::status::bad_request, dummy, "this port serves TLS: use https:// or wss://\n");
    res.keep_alive(false);
    return write(std::move(res));
  }
  tls_ = std::make_unique<tls_socket>(stream_.release_socket(), tls_context_);
  do_handshake();
}

void http_session::do_handshake() {
  const auto r = tls_->handshake();
  switch (r.st) {
    case tls_socket::status::ok:
      ctx_.stats.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
      return do_read();
    case tls_socket::status::want_read:
    case tls_socket::status::want_write:
      tls_->socket().async_wait(
          r.st == tls_socket::status::want_read ? boost::asio::ip::tcp::socket::wait_read
                                                : boost::asio::ip::tcp::socket::wait_write,
          [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->handshake_failed(ec == boost::asio::error::operation_aborted ? "timeout" : ec.message());
            self->do_handshake();
          });
      return;
    case tls_socket::status::closed:
      return handshake_failed("connection closed");
    case tls_socket::status::failed:
      return handshake_failed(tls_->error());
  }
}

void http_session::handshake_failed(const std::string& why) {
  ctx_.stats.tls_failures.fetch_add(1, std::memory_order_relaxed);
  common::log("http")->info("TLS handshake failed client={} error=\"{}\"", client_of(request{}).first, why);
  clear_timeout();
  end_connection();
}

void http_session::end_connection() {
  beast::error_code ignored;
  sock().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  sock().close(ignored);
}

void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(common::limits::max_http_header_bytes);
  parser_->body_limit(common::limits::max_http_body_bytes);
  set_timeout(std::chrono::seconds(30));
  with_stream([this](auto& s) {
    http::async_read(s, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  });
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset || ec == boost::asio::ssl::error::stream_truncated ||
      ec == boost::asio::error::operation_aborted) {  // the last: the TLS request timeout closed the socket
    beast::error_code ignored;
    sock().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  if (ec) {
    // A malformed or oversized request: answer 400 once, then close.
    common::log("http")->debug("bad request error=\"{}\"", ec.message());
    request dummy;
    dummy.version(11);
    auto res = make(http::status::bad_request, dummy, "bad request: " + ec.message() + "\n");
    res.keep_alive(false);
    write(std::move(res));
    return;
  }
  handle(parser_->release());
}

http_session::response http_session::make(http::status status, const request& req, std::string body,
                                          const char* content_type) {
  response res{status, req.version()};
  res.set(http::field::server, "switchboard");
  res.set(http::field::content_type, content_type);
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string http_session::health_json(bool& ok) const {
  const auto up = ctx_.link.links_up();
  const bool draining = ctx_.draining.load();
  ok = up > 0 && !draining;
  nlohmann::json j = {
      {"status", draining ? "draining" : (ok ? "ok" : "unavailable")},
      {"gateway", ctx_.gateway_id},
      {"layerd_links_up", up},
      {"layerd_links", ctx_.link.links()},
      {"connections", ctx_.hub_ref.connections()},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx_.started)
                       .count()},
  };
  return j.dump() + "\n";
}

std::string http_session::metrics_text() const {
  common::prometheus_text p;
  auto metric = [&p](const char* name, std::uint64_t value, const char* labels = "") {
    p.sample(name, static_cast<double>(value), labels);
  };
  auto head = [&p](const char* name, const char* type, const char* help) { p.family(name, type, help); };
  const auto& st = ctx_.stats;
  const auto& link = ctx_.link.counters();
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };

  head("switchboard_gateway_connections", "gauge", "Open WebSocket connections.");
  metric("switchboard_gateway_connections", ctx_.hub_ref.connections());
  head("switchboard_gateway_handshakes_total", "counter", "WebSocket handshakes accepted.");
  metric("switchboard_gateway_handshakes_total", v(st.handshakes));
  head("switchboard_gateway_handshake_refusals_total", "counter", "WebSocket handshakes refused, by reason.");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_not_found), "{reason=\"not_found\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_unavailable), "{reason=\"layer_unavailable\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_bad_handshake), "{reason=\"bad_handshake\"}");
  metric("switchboard_gateway_handshake_refusals_total", v(st.refused_origin), "{reason=\"origin\"}");
  head("switchboard_gateway_frames_in_total", "counter", "Text frames received from clients.");
  metric("switchboard_gateway_frames_in_total", v(st.frames_in));
  head("switchboard_gateway_frames_out_total", "counter", "Frames written to clients (fan-out deliveries and control frames).");
  metric("switchboard_gateway_frames_out_total", v(st.frames_out));
  head("switchboard_gateway_socket_writes_total", "counter",
       "Writes to WebSocket clients; frames_out / socket_writes is the frames sent per write.");
  metric("switchboard_gateway_socket_writes_total", v(st.socket_writes));
  head("switchboard_gateway_bytes_in_total", "counter", "Bytes read from WebSocket clients.");
  metric("switchboard_gateway_bytes_in_total", v(st.bytes_in));
  head("switchboard_gateway_bytes_out_total", "counter", "Bytes written to WebSocket clients.");
  metric("switchboard_gateway_bytes_out_total", v(st.bytes_out));
  head("switchboard_gateway_error_frames_total", "counter", "Client frames answered with an error frame (bad_json, bad_message, not_accepted).");
  metric("switchboard_gateway_error_frames_total", v(st.bad_frames));
  head("switchboard_gateway_closes_total", "counter", "Connections closed by the gateway, by reason.");
  metric("switchboard_gateway_closes_total", v(st.closed_binary), "{reason=\"binary\"}");
  metric("switchboard_gateway_closes_total", v(st.closed_too_big), "{reason=\"too_big\"}");
  metric("switchboard_gateway_closes_total", v(st.closed_rate_limited), "{reason=\"rate_limited\"}");
  metric("switchboard_gateway_closes_total", v(st.closed_slow_consumer), "{reason=\"slow_consumer\"}");
  metric("switchboard_gateway_closes_total", v(st.closed_ping_timeout), "{reason=\"ping_timeout\"}");
  metric("switchboard_gateway_closes_total", v(st.protocol_errors), "{reason=\"protocol_error\"}");
  metric("switchboard_gateway_closes_total", v(st.closed_going_away), "{reason=\"going_away\"}");
  head("switchboard_gateway_tls_handshakes_total", "counter", "TLS handshakes completed (with --tls-cert).");
  metric("switchboard_gateway_tls_handshakes_total", v(st.tls_handshakes));
  head("switchboard_gateway_tls_failures_total", "counter", "Connections to the TLS port that failed, by reason.");
  metric("switchboard_gateway_tls_failures_total", v(st.tls_failures), "{reason=\"handshake\"}");
  metric("switchboard_gateway_tls_failures_total", v(st.tls_plain_http), "{reason=\"plain_http\"}");
  head("switchboard_gateway_group_sends_total", "counter", "group_sends passed to layerd.");
  metric("switchboard_gateway_group_sends_total", v(link.group_sends));
  head("switchboard_gateway_group_sends_dropped_total", "counter", "group_sends dropped because no layerd was available.");
  metric("switchboard_gateway_group_sends_dropped_total", v(link.dropped_no_layerd));
  head("switchboard_gateway_delivers_in_total", "counter", "Deliveries received from layerd (each framed once).");
  metric("switchboard_gateway_delivers_in_total", v(link.delivers_in));
  head("switchboard_gateway_layer_malformed_total", "counter", "Malformed messages from layerd.");
  metric("switchboard_gateway_layer_malformed_total", v(link.malformed_in));
  head("switchboard_gateway_unknown_targets_total", "counter", "Deliveries for connections that no longer exist.");
  metric("switchboard_gateway_unknown_targets_total", ctx_.hub_ref.unknown_targets());
  head("switchboard_gateway_layerd_links_up", "gauge", "layerd links up.");
  metric("switchboard_gateway_layerd_links_up", ctx_.link.links_up());
  head("switchboard_gateway_layerd_links", "gauge", "layerd links configured.");
  metric("switchboard_gateway_layerd_links", ctx_.link.links());
  head("switchboard_gateway_draining", "gauge", "1 while the gateway drains after SIGTERM.");
  metric("switchboard_gateway_draining", ctx_.draining.load() ? 1 : 0);
  {
    const auto h = ctx_.hub_ref.flush_times();
    std::array<double, hub::flush_bounds_ms.size()> bounds_s{};
    for (std::size_t i = 0; i < bounds_s.size(); ++i) bounds_s[i] = hub::flush_bounds_ms[i] / 1000.0;
    p.histogram("switchboard_gateway_flush_seconds",
                "Time to write one event-loop pass's queued frames (every socket with frames, once).", bounds_s.data(),
                h.buckets.data(), bounds_s.size(), h.sum_ms / 1000.0);
  }
  head("switchboard_gateway_uptime_seconds", "gauge", "Seconds since start.");
  metric("switchboard_gateway_uptime_seconds",
         static_cast<std::uint64_t>(
             std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx_.started).count()));
  return p.take();
}

std::pair<std::string, std::string> http_session::client_of(const request& req) const {
  boost::system::error_code ec;
  const auto peer = sock().remote_endpoint(ec);
  std::string addr = ec ? std::string("?") : peer.address().to_string();
  std::string scheme = tls_ ? "https" : "http";
  const auto& trusted = ctx_.cfg.trusted_proxies;
  if (!ec && std::find(trusted.begin(), trusted.end(), addr) != trusted.end()) {
    // The proxy appends the address it saw; the last entry is the one it vouches for.
    std::string xff(req["X-Forwarded-For"]);
    if (!xff.empty()) {
      auto last = xff.substr(xff.rfind(',') == std::string::npos ? 0 : xff.rfind(',') + 1);
      last.erase(0, last.find_first_not_of(" \t"));
      last.erase(last.find_last_not_of(" \t") + 1);
      boost::system::error_code bad;
      boost::asio::ip::make_address(last, bad);
      if (!bad) addr = last;
    }
    std::string proto(req["X-Forwarded-Proto"]);
    if (proto == "https" || proto == "http") scheme = proto;
  }
  return {addr, scheme};
}

void http_session::handle(request&& req) {
  auto log = common::log("http");
  const auto target = req.target();
  const route r = match_route(std::string_view(target.data(), target.size()));
  const bool is_ws_route = r.what == route::kind::ws_chat || r.what == route::kind::ws_notification;
  const bool is_ws_path = is_ws_route || r.what == route::kind::ws_not_found;

  if (ws::wants_websocket(req)) {
    if (is_ws_route && ctx_.draining.load()) {
      ctx_.stats.refused_unavailable.fetch_add(1, std::memory_order_relaxed);
      auto res = make(http::status::service_unavailable, req, "gateway draining; connect again\n");
      res.keep_alive(false);
      return write(std::move(res));
    }
    if (is_ws_route && !ctx_.origins.allowed(std::string_view(req[http::field::origin].data(), req[http::field::origin].size()),
                                              std::string_view(req[http::field::host].data(), req[http::field::host].size()))) {
      ctx_.stats.refused_origin.fetch_add(1, std::memory_order_relaxed);
      log->info("handshake refused status=403 origin=\"{}\" host=\"{}\" client={}", std::string(req[http::field::origin]),
                std::string(req[http::field::host]), client_of(req).first);
      auto res = make(http::status::forbidden, req, "origin not allowed\n");
      res.keep_alive(false);
      return write(std::move(res));
    }
    if (is_ws_route && log->should_log(spdlog::level::debug)) {
      const auto [client, scheme] = client_of(req);
      log->debug("handshake client={} scheme={} target=\"{}\"", client, scheme, std::string(req.target()));
    }
    if (is_ws_route) {
      auto check = ws::check_upgrade(req);
      if (!check.ok) {
        ctx_.stats.refused_bad_handshake.fetch_add(1, std::memory_order_relaxed);
        log->debug("handshake refused status={} reason=\"{}\"", check.status, check.error);
        auto res = make(static_cast<http::status>(check.status), req, check.error + "\n");
        if (check.status == 426) res.set(http::field::sec_websocket_version, "13");
        res.keep_alive(false);
        return write(std::move(res));
      }
      clear_timeout();
      const bool chat = r.what == route::kind::ws_chat;
      auto group = chat ? common::group_for("chat", r.room) : common::group_for("notification", r.room);
      const auto kind = chat ? consumer_kind::chat : consumer_kind::notification;
      std::shared_ptr<websocket_session> s;
      if (tls_) {
        s = std::make_shared<websocket_session>(std::move(tls_), std::move(check.accept), std::move(group), kind, ctx_,
                                                thread_);
      } else {
        s = std::make_shared<websocket_session>(stream_.release_socket(), std::move(check.accept), std::move(group),
                                                kind, ctx_, thread_);
      }
      s->run();
      return;
    }
    ctx_.stats.refused_not_found.fetch_add(1, std::memory_order_relaxed);
    log->debug("handshake refused status=404 target=\"{}\"", std::string(req.target()));
    auto res = make(http::status::not_found, req, "no WebSocket route for this path\n");
    res.keep_alive(false);
    return write(std::move(res));
  }

  if (is_ws_path) {
    if (r.what == route::kind::ws_not_found) return write(make(http::status::not_found, req, "not found\n"));
    auto res = make(http::status::upgrade_required, req, "this path needs a WebSocket upgrade\n");
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::connection, "Upgrade");
    return write(std::move(res));
  }
  if (r.what == route::kind::not_found) return write(make(http::status::not_found, req, "not found\n"));

  const bool head = req.method() == http::verb::head;
  if (req.method() != http::verb::get && !head) {
    auto res = make(http::status::method_not_allowed, req, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
    return write(std::move(res));
  }
  response res;
  switch (r.what) {
    case route::kind::redirect_to_chat:
      res = make(http::status::found, req, "");
      res.set(http::field::location, "/chat/");
      break;
    case route::kind::index_page:
      res = make(http::status::ok, req, std::string(index_page()), "text/html; charset=utf-8");
      break;
    case route::kind::room_page:
      res = make(http::status::ok, req, room_page(r.room), "text/html; charset=utf-8");
      break;
    case route::kind::healthz: {
      bool ok = false;
      std::string body = health_json(ok);
      res = make(ok ? http::status::ok : http::status::service_unavailable, req, std::move(body), "application/json");
      res.set(http::field::cache_control, "no-store");
      break;
    }
    case route::kind::metrics:
      res = make(http::status::ok, req, metrics_text(), "text/plain; version=0.0.4");
      res.set(http::field::cache_control, "no-store");
      break;
    default:
      res = make(http::status::not_found, req, "not found\n");
  }
  if (head) {
    const auto len = res.body().size();
    res.body().clear();
    res.content_length(len);
  }
  write(std::move(res));
}

void http_session::write(response&& res) {
  pending_ = std::make_shared<response>(std::move(res));
  const bool keep = pending_->keep_alive();
  with_stream([this, keep](auto& s) {
    http::async_write(s, *pending_, beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep));
  });
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  pending_.reset();
  if (ec) return;
  if (!keep_alive) {
    if (tls_) {
      clear_timeout();
      tls_->notify_close();
    }
    beast::error_code ignored;
    sock().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  do_read();
}

}  // namespace sb::gateway
