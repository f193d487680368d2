// listener.hpp — accepts TCP connections and spreads them over the I/O threads.
//
// The acceptor lives on thread 0; each accepted socket is created directly
// on the io_context of the thread chosen for it (round robin), so nothing
// of the connection ever crosses threads. Running out of file descriptors
// pauses accepting briefly instead of spinning.
//
// Threading: constructed before the threads start; runs on thread 0.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/server_context.hpp"

namespace sb::gateway {

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Binds and listens; throws std::runtime_error with a clear text if it cannot.
  listener(server_context& ctx, const boost::asio::ip::tcp::endpoint& ep);
  void run();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();

  server_context& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_;
};

}  // namespace sb::gateway
