// http_session.hpp — one HTTP/1.1 connection: pages, /healthz, WebSocket upgrades.
//
// Beast parses the request (bounded header and body; the request line, Host
// and framing are checked before any body is read); the router decides
// what serves it. A WebSocket upgrade passes the origin and auth policies
// and the RFC's checks, then the route's consumer joins its group inside a
// new websocket_session; once layerd acknowledges, the socket moves to the
// session, which sends the 101. Every refusal, before or after the join,
// is written here (refuse()); everything else is answered here too,
// keep-alive allowed. POST /ws-check/<path> runs a handshake's admission
// checks for <path> without upgrading or joining (docs/operations.md).
// With --tls-cert the connection first completes a TLS handshake and the
// same requests are served over it (a plain-HTTP request on that port gets
// a 400 in plain text saying so).
//
// Threading: lives on the io_context thread it was accepted on.
#pragma once

#include <memory>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/join_query.hpp"
#include "gateway/router.hpp"
#include "gateway/server_context.hpp"
#include "gateway/tls_socket.hpp"

namespace sb::gateway {

class websocket_session;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(boost::asio::ip::tcp::socket socket, server_context& ctx, std::size_t thread);
  void run();

 private:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  void on_first_bytes(boost::beast::error_code ec);
  void do_handshake();
  void handshake_failed(const std::string& why);
  // Request timeouts: the tcp_stream's own when plain, a timer with TLS.
  void set_timeout(std::chrono::steady_clock::duration d);
  void clear_timeout();
  void do_read();
  // Reads until buffer_ holds the request line (or the header limit), then
  // refuses a line without the HTTP version: Beast would wait for more.
  void read_request_line();
  void check_request_line();
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  // A read ended by an error: quietly when the peer left or timed out,
  // else with a 400.
  void read_failed(boost::beast::error_code ec);
  // A malformed request: 400 with why, counted, then the connection ends.
  void bad_request(const std::string& why);
  void handle(request&& req);
  struct refusal {
    boost::beast::http::status status;
    std::string body;
  };
  // What a handshake that passed admission() joins with.
  struct admitted {
    auth_decision decision;
    bool watch = false;  // ?presence=1
    join_query replay;   // ?history= / ?since= (built-in routes)
  };
  std::optional<refusal> admission(const route& r, const request& req, bool check, admitted& in);
  void ws_check(const request& req);
  void upgrade(const route& r, const request& req);
  // GET /api/presence?group=chat_<room>: asked of the group's owner layerd.
  void serve_presence(const request& req);
  void on_joined(websocket_session& s, bool ok, const std::string& why, const std::string& key, unsigned version);
  // A refusal: the status and a text body, then the connection ends.
  void refuse(boost::beast::http::status status, unsigned version, std::string body);
  void write(response&& res);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  response make(boost::beast::http::status status, const request& req, std::string body,
                const char* content_type = "text/plain; charset=utf-8");
  // The client's address and scheme: the TCP peer's, or X-Forwarded-For /
  // X-Forwarded-Proto when the peer is a --trusted-proxy (and only then).
  std::pair<std::string, std::string> client_of(const request& req) const;
  // A django:NAME route's consumer, with the scope of this handshake (django_scope.hpp).
  std::unique_ptr<consumer> make_django_consumer(const route& r, const request& req);

  // Runs f on the stream requests travel over: TLS or plain.
  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(stream_);
    }
  }
  boost::asio::ip::tcp::socket& sock() { return tls_ ? tls_->socket() : stream_.socket(); }
  const boost::asio::ip::tcp::socket& sock() const { return tls_ ? tls_->socket() : stream_.socket(); }
  void end_connection();

  boost::beast::tcp_stream stream_;  // its socket moves into tls_ when TLS is on
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::unique_ptr<tls_socket> tls_;
  boost::asio::steady_timer deadline_;  // TLS only
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<response> pending_;
  server_context& ctx_;
  std::size_t thread_;
};

}  // namespace sb::gateway
