// http_api.cpp — see http_api.hpp.
#include "layerd/http_api.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "layerd/layer_server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace sb::layerd {
namespace {

bool same_token(std::string_view a, std::string_view b) {
  // Constant time in the length of the expected token.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  return diff == 0;
}

std::string error_json(const std::string& text) { return nlohmann::json{{"error", text}}.dump(); }

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// One connection: read a request, answer it, repeat while keep-alive.
class api_session : public std::enable_shared_from_this<api_session> {
 public:
  api_session(asio::ip::tcp::socket socket, layer_server& server, const std::string& token)
      : stream_(std::move(socket)), server_(server), token_(token) {}

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    // Read bodies well past the event limit so an oversized event still
    // gets its 413 after a complete request (a client mid-upload would
    // otherwise see the connection cut); only far larger ones are cut.
    parser_->body_limit(4 * common::limits::max_event_bytes);
    parser_->header_limit(common::limits::max_http_header_bytes);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) return answer(413, error_json("request body over 4 MiB"), false);
    if (ec) return;  // closed, timed out, or unparseable: drop the connection
    req_ = parser_->release();
    handle();
  }

  void handle() {
    if (token_.empty()) {  // the metrics listener
      const std::string target(req_.target());
      if (target.substr(0, target.find('?')) != "/metrics") {
        return answer(404, error_json("only /metrics here"), req_.keep_alive());
      }
      if (req_.method() != http::verb::get) return answer(405, error_json("use GET"), req_.keep_alive());
      return call([](api_operations& s, api_operations::done_fn d) { s.metrics(d); }, "text/plain; version=0.0.4");
    }
    const auto auth = sv(req_[http::field::authorization]);
    constexpr std::string_view bearer = "Bearer ";
    if (auth.substr(0, bearer.size()) != bearer || !same_token(auth.substr(bearer.size()), token_)) {
      static common::log_limiter limit;
      common::warn_limited(limit, "layerd", "api refused status=401 target=\"{}\"", std::string(req_.target()));
      return answer(401, error_json("missing or wrong bearer token"), req_.keep_alive());
    }
    const std::string target(req_.target());
    const std::string path = target.substr(0, target.find('?'));
    const bool post = req_.method() == http::verb::post;
    const bool get = req_.method() == http::verb::get;
    if (path == "/api/groups" || path == "/api/members") {
      if (!get) return answer(405, error_json("use GET"), req_.keep_alive());
      if (path == "/api/groups") return call([](api_operations& s, api_operations::done_fn d) { s.groups(d); });
      const auto q = target.find("?group=");
      if (q == std::string::npos) return answer(400, error_json("give ?group=NAME"), req_.keep_alive());
      auto group = common::percent_decode(target.substr(q + 7));
      if (!group) return answer(400, error_json("bad percent-encoding"), req_.keep_alive());
      return call([g = *group](api_operations& s, api_operations::done_fn d) { s.members(g, d); });
    }
    if (path != "/api/group_send" && path != "/api/send" && path != "/api/group_add" && path != "/api/group_discard") {
      return answer(404, error_json("no such endpoint"), req_.keep_alive());
    }
    if (!post) return answer(405, error_json("use POST"), req_.keep_alive());
    nlohmann::json body = nlohmann::json::parse(req_.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) return answer(400, error_json("body must be a JSON object"), req_.keep_alive());
    auto str = [&](const char* k) -> std::optional<std::string> {
      auto it = body.find(k);
      if (it == body.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    if (path == "/api/group_add" || path == "/api/group_discard") {
      auto g = str("group"), c = str("channel");
      if (!g || !c) return answer(400, error_json("need string \"group\" and \"channel\""), req_.keep_alive());
      if (path == "/api/group_add") {
        return call([g = *g, c = *c](api_operations& s, api_operations::done_fn d) { s.group_add(g, c, d); });
      }
      return call([g = *g, c = *c](api_operations& s, api_operations::done_fn d) { s.group_discard(g, c, d); });
    }
    auto ev = body.find("event");
    if (ev == body.end() || !ev->is_object()) return answer(400, error_json("need an object \"event\""), req_.keep_alive());
    // The event bounds (common/event.hpp): a size bound broken is 413, anything else 400.
    auto checked = common::event_from_json_checked(ev->dump());
    if (!checked.ok) return answer(checked.too_large ? 413 : 400, error_json(checked.problem), req_.keep_alive());
    if (path == "/api/group_send") {
      auto g = str("group");
      if (!g) return answer(400, error_json("need a string \"group\""), req_.keep_alive());
      return call([g = *g, e = std::move(checked.event)](api_operations& s, api_operations::done_fn d) {
        s.group_send(g, e, d);
      });
    }
    auto c = str("channel");
    if (!c) return answer(400, error_json("need a string \"channel\""), req_.keep_alive());
    return call([c = *c, e = std::move(checked.event)](api_operations& s, api_operations::done_fn d) {
      s.send(c, e, d);
    });
  }

  // Runs op on layerd's loop thread; the answer comes back to this thread.
  template <class Op>
  void call(Op op, const char* content_type = "application/json") {
    auto self = shared_from_this();
    auto ex = stream_.get_executor();
    server_.post([self, ex, op = std::move(op), content_type]() mutable {
      op(self->server_.operations(), [self, ex, content_type](api_operations::result r) {
        asio::post(ex, [self, r = std::move(r), content_type] {
          self->answer(r.status, r.body, self->req_.keep_alive(), r.status == 200 ? content_type : "application/json");
        });
      });
    });
  }

  void answer(int status, std::string body, bool keep_alive, const char* content_type = "application/json") {
    res_ = {static_cast<http::status>(status), 11};
    res_.set(http::field::server, "switchboard-layerd");
    res_.set(http::field::content_type, content_type);
    res_.keep_alive(keep_alive);
    if (!body.empty() && body.back() != '\n') body += "\n";
    res_.body() = std::move(body);
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      if (ec || !keep_alive) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        return;
      }
      self->do_read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  layer_server& server_;
  const std::string& token_;
};

}  // namespace

http_api::http_api(layer_server& server, const std::string& host, unsigned short port, std::string token)
    : server_(server), token_(std::move(token)), acceptor_(ioc_) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("bad --http-listen address " + host);
  const asio::ip::tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

http_api::~http_api() { stop(); }

void http_api::start() {
  do_accept();
  thread_ = std::thread([this] { ioc_.run(); });
}

void http_api::stop() {
  if (!thread_.joinable()) return;
  ioc_.stop();
  thread_.join();
}

void http_api::do_accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<api_session>(std::move(socket), server_, token_)->run();
    do_accept();
  });
}

}  // namespace sb::layerd
