// listener.cpp — see listener.hpp.
#include "gateway/listener.hpp"

#include <boost/asio/post.hpp>

#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "gateway/http_session.hpp"
#include "gateway/hub.hpp"

namespace sb::gateway {

listener::listener(server_context& ctx, const boost::asio::ip::tcp::endpoint& ep)
    : ctx_(ctx), acceptor_(ctx.hub_ref.context(0)), pause_(ctx.hub_ref.context(0)) {
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port()) +
                             ": " + ec.message());
  }
}

void listener::run() {
  boost::asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void listener::stop() {
  boost::asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    self->pause_.cancel();
  });
}

void listener::do_accept() {
  const std::size_t thread = ctx_.hub_ref.next_thread();
  acceptor_.async_accept(
      ctx_.hub_ref.context(thread),
      [self = shared_from_this(), thread](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
          // EMFILE/ENFILE and friends: wait a little so we do not spin.
          static common::log_limiter limit;
          common::warn_limited(limit, "http", "accept failed error=\"{}\" retry_ms=100", ec.message());
          self->pause_.expires_after(std::chrono::milliseconds(100));
          self->pause_.async_wait([self](boost::system::error_code e) {
            if (!e) self->do_accept();
          });
          return;
        }
        boost::system::error_code opt;
        socket.set_option(boost::asio::ip::tcp::no_delay(true), opt);
        auto ex = socket.get_executor();
        auto session = std::make_shared<http_session>(std::move(socket), self->ctx_, thread);
        boost::asio::post(ex, [session] { session->run(); });  // start on its own thread
        self->do_accept();
      });
}

}  // namespace sb::gateway
