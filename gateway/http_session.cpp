// http_session.cpp — see http_session.hpp.
#include "gateway/http_session.hpp"

#include <algorithm>
#include <string_view>

#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "gateway/django_consumer.hpp"
#include "gateway/django_scope.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/pages.hpp"
#include "gateway/query_param.hpp"
#include "gateway/request_checks.hpp"
#include "gateway/status_pages.hpp"
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
    return refuse(http::status::bad_request, 11, "this port serves TLS: use https:// or wss://\n");
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
  static common::log_limiter limit;
  common::log_limited(limit, "http", spdlog::level::info, "TLS handshake failed client={} error=\"{}\"", client_of(request{}).first, why);
  clear_timeout();
  end_connection();
}

void http_session::end_connection() {
  beast::error_code ignored;
  sock().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  sock().close(ignored);
}

// A request is read in three steps, under one request timeout: the request
// line (checked here, since Beast waits for more input when a complete line
// lacks the version), the header (checked for Host and framing before any
// body is read), then the body if there is one.
void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(common::limits::max_http_header_bytes);
  parser_->body_limit(common::limits::max_http_body_bytes);
  set_timeout(std::chrono::seconds(30));
  read_request_line();
}

// Plain reads into buffer_: asio::async_read_until would take the flat_buffer
// by value and fill a copy.
void http_session::read_request_line() {
  const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  if (data.find('\n') != std::string_view::npos || data.size() >= common::limits::max_http_header_bytes) {
    return check_request_line();
  }
  with_stream([this](auto& s) {
    s.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->buffer_.commit(n);
      if (ec) return self->read_failed(ec);
      self->read_request_line();
    });
  });
}

void http_session::check_request_line() {
  const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  if (auto problem = request_line_problem(data)) return bad_request(std::string(*problem));
  with_stream([this](auto& s) {
    http::async_read_header(s, buffer_, *parser_,
                            beast::bind_front_handler(&http_session::on_header, shared_from_this()));
  });
}

void http_session::on_header(beast::error_code ec, std::size_t) {
  if (ec) return read_failed(ec);
  if (auto problem = header_problem(parser_->get())) return bad_request(std::string(*problem));
  if (parser_->is_done()) return handle(parser_->release());
  with_stream([this](auto& s) {
    http::async_read(s, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  });
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) return read_failed(ec);
  handle(parser_->release());
}

void http_session::read_failed(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset || ec == boost::asio::ssl::error::stream_truncated ||
      ec == boost::asio::error::operation_aborted) {  // the last: the TLS request timeout closed the socket
    beast::error_code ignored;
    sock().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  // A malformed or oversized request: answer 400 once, then close.
  bad_request(ec.message());
}

// Outsiders trigger these at will: counted, logged at debug only.
void http_session::bad_request(const std::string& why) {
  ctx_.stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
  common::log("http")->debug("bad request error=\"{}\"", why);
  refuse(http::status::bad_request, 11, "bad request: " + why + "\n");
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
  const auto target = req.target();
  const route r = match_route(std::string_view(target.data(), target.size()), ctx_.routes);
  const bool is_ws_path = r.what == route::kind::websocket || r.what == route::kind::ws_not_found;

  if (ws::wants_websocket(req)) return upgrade(r, req);
  if (r.what == route::kind::ws_check) return ws_check(req);
  if (is_ws_path) {
    if (r.what == route::kind::ws_not_found) return write(make(http::status::not_found, req, "not found\n"));
    auto res = make(http::status::upgrade_required, req, "this path needs a WebSocket upgrade\n");
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::connection, "Upgrade");
    return write(std::move(res));
  }
  if (r.what == route::kind::not_found) return write(make(http::status::not_found, req, "not found\n"));

  const bool head = req.method() == http::verb::head;
  if (r.what == route::kind::presence_api && req.method() == http::verb::get) return serve_presence(req);
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
      res = make(http::status::ok, req, std::string(chat_index_page()), "text/html; charset=utf-8");
      break;
    case route::kind::room_page:
      res = make(http::status::ok, req, chat_room_page(r.room), "text/html; charset=utf-8");
      break;
    case route::kind::classic_index_page:
      res = make(http::status::ok, req, std::string(classic_index_page()), "text/html; charset=utf-8");
      break;
    case route::kind::classic_room_page:
      res = make(http::status::ok, req, classic_room_page(r.room), "text/html; charset=utf-8");
      break;
    case route::kind::healthz: {
      bool ok = false;
      std::string body = health_json(ctx_, ok);
      res = make(ok ? http::status::ok : http::status::service_unavailable, req, std::move(body), "application/json");
      res.set(http::field::cache_control, "no-store");
      break;
    }
    case route::kind::metrics:
      res = make(http::status::ok, req, metrics_text(ctx_), "text/plain; version=0.0.4");
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

// Who is in a chat room, from the group's owner layerd whichever gateway
// is asked; the room's own admission rule (a token for that room, or
// guests allowed) decides who may ask, as for joining it with ?presence=1.
void http_session::serve_presence(const request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  auto fail = [&](http::status status, std::string why) {
    ctx_.stats.bad_requests.fetch_add(status == http::status::bad_request, std::memory_order_relaxed);
    write(make(status, req, std::move(why), "text/plain; charset=utf-8"));
  };
  const auto group = find_query_param(target, "group");
  if (group.count != 1 || !group.value) return fail(http::status::bad_request, "give group=<name> once\n");
  constexpr std::string_view chat = "chat_";
  if (!common::is_valid_group_name(*group.value) || group.value->compare(0, chat.size(), chat) != 0) {
    return fail(http::status::bad_request, "group must be a valid chat_<room> group name\n");
  }
  const auto decision = ctx_.auth->authenticate(req, std::string_view(*group.value).substr(chat.size()));
  if (!decision.user) {
    const auto& d = decision.denial;
    ctx_.stats.auth_refusals[static_cast<std::size_t>(d.reason)].fetch_add(1, std::memory_order_relaxed);
    return fail(static_cast<http::status>(d.status()), "not authenticated: " + d.detail + "\n");
  }
  // Where Django gates rooms (auth=django), a guest would see who is in a
  // room it could not join: asking then takes a token.
  const auto& entries = ctx_.routes.entries();
  const bool gated = std::any_of(entries.begin(), entries.end(), [](const auto& e) { return !e.gate_channel.empty(); });
  if (gated && decision.user->guest) {
    return fail(http::status::forbidden, "not authenticated: rooms here are gated by the application; give a token\n");
  }
  clear_timeout();
  auto& ioc = ctx_.hub_ref.context(thread_);
  ctx_.link.presence(*group.value, [self = shared_from_this(), &ioc, req, name = *group.value](
                                        const proto::presence_state* st, const std::string& error) {
    // On the link's thread: render there, write on this session's own.
    auto res = st ? self->make(http::status::ok, req, presence_json(name, *st), "application/json")
                  : self->make(http::status::service_unavailable, req, "presence unavailable: " + error + "\n");
    res.set(http::field::cache_control, "no-store");
    boost::asio::post(ioc, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
  });
}

// The checks a WebSocket handshake passes before the RFC's and before its
// consumer joins, in order: route, draining, origin, auth. A refusal is
// counted (in the handshake refusals, or only as a /ws-check answer when
// `check`), logged (rate-limited) and returned; a pass fills `decision`.
std::optional<http_session::refusal> http_session::admission(const route& r, const request& req, bool check,
                                                             admitted& in) {
  auth_decision& decision = in.decision;
  const char* what = check ? "ws-check" : "handshake";  // the log lines' first word
  auto count = [&](std::atomic<std::uint64_t>& c) {
    if (!check) c.fetch_add(1, std::memory_order_relaxed);
  };
  if (r.what != route::kind::websocket) {
    count(ctx_.stats.refused_not_found);
    const std::string_view target(req.target().data(), req.target().size());
    common::log("http")->debug("{} refused status=404 path=\"{}\"", what,
                               std::string(target.substr(0, target.find('?'))));  // a query may hold a token
    return refusal{http::status::not_found, "no WebSocket route for this path\n"};
  }
  if (ctx_.draining.load()) {
    count(ctx_.stats.refused_unavailable);
    return refusal{http::status::service_unavailable, "gateway draining; connect again\n"};
  }
  const auto origin = req[http::field::origin];
  const auto host = req[http::field::host];
  if (!ctx_.origins.allowed(std::string_view(origin.data(), origin.size()),
                            std::string_view(host.data(), host.size()))) {
    count(ctx_.stats.refused_origin);
    static common::log_limiter origin_limit;
    common::log_limited(origin_limit, "http", spdlog::level::info, "{} refused status=403 origin=\"{}\" host=\"{}\" client={}", what, std::string(origin),
              std::string(host), client_of(req).first);
    return refusal{http::status::forbidden, "origin not allowed\n"};
  }
  // On an auth=django route the app's consumer is the gate (and names the
  // user) once the consumer's connect() answers; the token policy is not asked.
  const bool gated = !r.gate_channel.empty();
  decision = gated ? auth_decision{identity{}, {}} : ctx_.auth->authenticate(req, r.room);
  if (!decision.user) {
    const auto& d = decision.denial;
    count(ctx_.stats.refused_auth);
    if (!check) ctx_.stats.auth_refusals[static_cast<std::size_t>(d.reason)].fetch_add(1, std::memory_order_relaxed);
    static common::log_limiter auth_limit;
    common::log_limited(auth_limit, "http", spdlog::level::info, "{} refused status={} reason={} detail=\"{}\" client={}",
                        what, d.status(), auth_refusal_name(d.reason), d.detail, client_of(req).first);
    return refusal{static_cast<http::status>(d.status()), "not authenticated: " + d.detail + "\n"};
  }
  // The join query: ?presence= on every route, ?history= / ?since= below.
  const std::string_view target(req.target().data(), req.target().size());
  const auto watch = presence_watch(target);
  if (!watch) {
    count(ctx_.stats.refused_bad_query);
    common::log("http")->debug("{} refused status=400 reason=\"{}\"", what, watch.error_text());
    return refusal{http::status::bad_request, "bad query: " + watch.error_text() + "\n"};
  }
  in.watch = watch.value();
  // ?history= / ?since= on built-in routes, gated ones too (the built-in
  // chat serves the socket once the gate let it in); a Django route's
  // query is its app's.
  if (r.django_channel.empty()) {
    in.replay = parse_join_query(target);
    if (in.replay.refusal) {
      if (!check) {
        ctx_.stats.join_query_refusals[static_cast<std::size_t>(*in.replay.refusal)].fetch_add(
            1, std::memory_order_relaxed);
      }
      static common::log_limiter query_limit;
      common::log_limited(query_limit, "http", spdlog::level::info,
                          "{} refused status=400 reason={} detail=\"{}\" client={}", what,
                          join_query_refusal_name(*in.replay.refusal), in.replay.detail, client_of(req).first);
      return refusal{http::status::bad_request, "bad query: " + in.replay.detail + "\n"};
    }
  }
  return std::nullopt;
}

// POST /ws-check/<ws path and query>: the page asks, after a refused
// handshake (whose status a browser's WebSocket never shows), whether to
// keep trying. The same admission() as a handshake, on the same headers
// with the inner target; nothing joins. 204 = it would be let in.
void http_session::ws_check(const request& req) {
  if (req.method() != http::verb::post) {
    auto res = make(http::status::method_not_allowed, req, "method not allowed\n");
    res.set(http::field::allow, "POST");
    return write(std::move(res));
  }
  constexpr std::string_view prefix = "/ws-check";
  request inner = req;
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view rest = target.substr(prefix.size());  // from the "/" of "/ws/..."
  inner.target(beast::string_view(rest.data(), rest.size()));
  const route r = match_route(std::string_view(inner.target().data(), inner.target().size()), ctx_.routes);
  admitted in;
  const auto no = admission(r, inner, true, in);
  const auto status = no ? no->status : http::status::no_content;
  ctx_.stats.ws_checks[ws_check_slot(static_cast<unsigned>(status))].fetch_add(1, std::memory_order_relaxed);
  auto res = make(status, req, no ? no->body : std::string());
  res.set(http::field::cache_control, "no-store");
  write(std::move(res));
}

// Every check a WebSocket handshake passes, in order, before its
// consumer joins; each failure is one refusal.
void http_session::upgrade(const route& r, const request& req) {
  auto log = common::log("http");
  admitted in;
  if (auto no = admission(r, req, false, in)) return refuse(no->status, req.version(), std::move(no->body));
  const bool gated = !r.gate_channel.empty();
  const identity& user = *in.decision.user;
  if (log->should_log(spdlog::level::debug)) {
    const auto [client, scheme] = client_of(req);
    // The path only: the query may hold a token, which is a credential.
    const std::string_view target(req.target().data(), req.target().size());
    log->debug("handshake client={} scheme={} path=\"{}\" user=\"{}\"", client, scheme,
               std::string(target.substr(0, target.find('?'))), gated ? "(the gate decides)" : user.id);
  }
  auto check = ws::check_upgrade(req);
  if (!check.ok) {
    ctx_.stats.refused_bad_handshake.fetch_add(1, std::memory_order_relaxed);
    log->debug("handshake refused status={} reason=\"{}\"", check.status, check.error);
    return refuse(static_cast<http::status>(check.status), req.version(), check.error + "\n");
  }
  clear_timeout();
  const bool builtin = r.django_channel.empty() && !gated;
  auto c = builtin ? r.make_consumer(r.room, user, ctx_.link, ctx_.stats) : make_django_consumer(r, req);
  c->watch_presence(in.watch);
  auto s = std::make_shared<websocket_session>(std::move(c), ctx_, thread_);
  if (in.replay.replay()) s->set_replay(in.replay);
  s->run([self = shared_from_this(), s, key = std::move(check.accept), version = req.version()](
             bool ok, const std::string& why) { self->on_joined(*s, ok, why, key, version); });
}

std::unique_ptr<consumer> http_session::make_django_consumer(const route& r, const request& req) {
  django_scope scope;
  const auto [client, scheme] = client_of(req);
  scope.scheme = scheme == "https" ? "wss" : "ws";
  const std::string_view target(req.target().data(), req.target().size());
  const auto q = target.find('?');
  scope.raw_path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) scope.query_string = std::string(target.substr(q + 1));
  auto decoded = common::percent_decode(scope.raw_path);
  scope.path = decoded ? *decoded : scope.raw_path;
  for (const auto& f : req) {
    scope.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (f.name() == http::field::sec_websocket_protocol) {
      add_subprotocols(std::string_view(f.value().data(), f.value().size()), scope.subprotocols);
    }
  }
  boost::system::error_code ec;
  const auto peer = sock().remote_endpoint(ec);
  // Behind a trusted proxy the client is the address it vouches for, whose port it does not say.
  const bool direct = !ec && peer.address().to_string() == client;
  scope.client = {client, direct ? peer.port() : std::uint16_t{0}};
  const auto local = sock().local_endpoint(ec);
  if (!ec) scope.server = {local.address().to_string(), local.port()};
  for (const auto& kw : r.kwargs) scope.kwargs.emplace_back(kw.name, kw.value);
  auto offered = scope.subprotocols;
  if (!r.gate_channel.empty()) {
    return std::make_unique<django_consumer>(r.gate_channel, scope.to_msgpack(), std::move(offered), ctx_,
                                             r.make_consumer, r.room);
  }
  return std::make_unique<django_consumer>(r.django_channel, scope.to_msgpack(), std::move(offered), ctx_);
}

// The consumer's join is acknowledged (or failed): the socket becomes the
// session's, or the handshake is refused here like every other.
void http_session::on_joined(websocket_session& s, bool ok, const std::string& why, const std::string& key,
                             unsigned version) {
  if (!ok && s.refusal_status() == 403) {  // a Django consumer closed before accepting (logged there)
    return refuse(http::status::forbidden, version, "refused by the application\n");
  }
  if (!ok) {
    ctx_.stats.refused_unavailable.fetch_add(1, std::memory_order_relaxed);
    static common::log_limiter unavailable_limit;
    common::warn_limited(unavailable_limit, "http", "handshake refused status=503 reason=\"{}\"", why);
    return refuse(http::status::service_unavailable, version, "channel layer unavailable: " + why + "\n");
  }
  if (tls_) return s.accept(std::move(tls_), key);
  s.accept(stream_.release_socket(), key);
}

void http_session::refuse(http::status status, unsigned version, std::string body) {
  request req;
  req.version(version);
  auto res = make(status, req, std::move(body));
  res.keep_alive(false);
  if (status == http::status::upgrade_required) res.set(http::field::sec_websocket_version, "13");
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
