// http_api.hpp — layerd's HTTP API for backends in any language.
//
// POST /api/group_send {"group", "event"}, POST /api/send {"channel",
// "event"}, POST /api/group_add and /api/group_discard {"group",
// "channel"}, GET /api/groups, GET /api/members?group=G. Every request
// needs "Authorization: Bearer <token>"; the API is off unless a token is
// configured. Answers are JSON: {"ok": true} or {"error": "..."} with 400
// (bad JSON or names), 401 (token), 404 (unknown group or channel), 405,
// 413 (body over 1 MiB), 503 (Redis away).
//
// Beast serves HTTP on the API's own thread (so layerd's loop never waits
// on a client); each operation is posted to the loop thread, and its
// answer is posted back here.
//
// Threading: start() spawns the thread; stop() joins it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sb::layerd {

class layer_server;

class http_api {
 public:
  // Binds now; throws std::runtime_error with a clear text if it cannot.
  // An empty token serves only GET /metrics (Prometheus text, no auth),
  // for --metrics-listen.
  http_api(layer_server& server, const std::string& host, unsigned short port, std::string token);
  ~http_api();

  void start();
  void stop();
  unsigned short port() const { return port_; }

 private:
  void do_accept();

  layer_server& server_;
  std::string token_;
  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
};

}  // namespace sb::layerd
