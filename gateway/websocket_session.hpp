// websocket_session.hpp — one browser WebSocket running the chat consumer.
//
// The seed's ChatConsumer, natively: on connect, group_add to the room's
// group and accept only once layerd has acknowledged the join (as
// `await group_add` precedes `accept()` in Django); each {"message": m}
// becomes a group_send; every DELIVER to this connection is written as
// the shared, already-built text frame; on close, group_discard.
//
// The interface is narrow (send(frame), close(reason)) so the frame layer
// under it can change without touching hub or link. This version rides
// Beast's websocket::stream.
//
// Threading: every member is touched only on the session's own io_context
// thread (hub delivers by posting there). Handlers hold shared_from_this().
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/close_reason.hpp"
#include "gateway/server_context.hpp"

namespace sb::gateway {

class websocket_session : public std::enable_shared_from_this<websocket_session> {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;

  websocket_session(boost::asio::ip::tcp::socket socket, request req, std::string group, server_context& ctx,
                    std::size_t thread);
  ~websocket_session();

  void run();
  // Queues a text frame; closes the connection as a slow consumer when
  // the queue would pass its bounds.
  void send(std::shared_ptr<const std::string> frame);
  void close(close_reason why);

 private:
  void on_joined(bool ok, const std::string& why);
  void refuse(boost::beast::http::status status, std::string body);
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void on_text(std::string_view text);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  bool take_token();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  request req_;
  std::string group_;
  server_context& ctx_;
  std::size_t thread_;
  std::uint64_t conn_ = 0;
  std::string channel_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t queued_bytes_ = 0;
  bool accepted_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool join_sent_ = false;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_;
  std::unique_ptr<boost::beast::http::response<boost::beast::http::string_body>> refusal_;
  std::unique_ptr<boost::asio::steady_timer> close_timer_;  // only while a slow consumer is being closed
};

}  // namespace sb::gateway
