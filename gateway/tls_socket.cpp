// tls_socket.cpp — see tls_socket.hpp.
#include "gateway/tls_socket.hpp"

#include <cerrno>
#include <climits>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace sb::gateway {

tls_socket::tls_socket(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context)
    : socket_(std::move(socket)), context_(std::move(context)) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  ssl_ = SSL_new(context_->native_handle());
  if (!ssl_ || ec || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
    error_ = "cannot set up TLS for the connection";
    return;
  }
  // A write that must be retried may be retried with the rest of the data
  // at another address (the queue's buffer may grow in between).
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_);
}

tls_socket::~tls_socket() {
  if (ssl_) SSL_free(ssl_);  // does not close the socket: socket_ does
}

tls_socket::result tls_socket::outcome(int ret, const char* what) {
  if (ret > 0) return {static_cast<std::size_t>(ret), status::ok};
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return {0, status::want_read};
    case SSL_ERROR_WANT_WRITE:
      return {0, status::want_write};
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      return {0, status::closed};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) return {0, status::closed};  // EOF or reset underneath
      [[fallthrough]];
    default: {
      char buf[256];
      const unsigned long e = ERR_get_error();
      ERR_error_string_n(e, buf, sizeof buf);
      error_ = std::string(what).append(": ").append(e ? buf : "TLS error");
      ERR_clear_error();
      return {0, status::failed};
    }
  }
}

tls_socket::result tls_socket::handshake() {
  if (!ssl_) return {0, status::failed};
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? result{0, status::ok} : outcome(ret, "handshake");
}

tls_socket::result tls_socket::read(void* data, std::size_t size) {
  if (!ssl_) return {0, status::failed};
  ERR_clear_error();
  errno = 0;
  return outcome(SSL_read(ssl_, data, static_cast<int>(size > INT_MAX ? INT_MAX : size)), "read");
}

tls_socket::result tls_socket::write(const void* data, std::size_t size) {
  if (!ssl_) return {0, status::failed};
  ERR_clear_error();
  errno = 0;
  return outcome(SSL_write(ssl_, data, static_cast<int>(size > INT_MAX ? INT_MAX : size)), "write");
}

tls_socket::result tls_socket::write_staged() {
  std::size_t total = 0;
  while (staged_done_ < staged_.size()) {
    const auto r = write(staged_.data() + staged_done_, staged_.size() - staged_done_);
    if (r.st != status::ok) return {total, r.st};
    staged_done_ += r.n;
    total += r.n;
  }
  staged_.clear();
  staged_done_ = 0;
  if (staged_.capacity() > 16 * 1024) std::string().swap(staged_);  // idle: give a big pass's buffer back
  return {total, status::ok};
}

bool tls_socket::has_pending() const { return ssl_ && SSL_pending(ssl_) > 0; }

void tls_socket::notify_close() {
  if (!ssl_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues and tries to send close_notify; the peer's is not awaited
  ERR_clear_error();
}

}  // namespace sb::gateway
