// tls_socket.hpp — TLS straight on a non-blocking TCP socket.
//
// OpenSSL reads and writes the socket itself (its socket BIO): no BIO pair
// and no stream-side record buffers in between, and with
// SSL_MODE_RELEASE_BUFFERS an idle connection holds no record buffer at
// all. So a wss session keeps the plain session's shape: it waits for
// readability, reads into the thread's buffer, and writes each pass's
// frames in one go from the flush.
//
// Two faces:
//  - non-blocking steps (handshake, read, write) that say what they wait
//    for, used by websocket_session's own loop;
//  - async_read_some / async_write_some, so Beast can read the HTTP
//    request and write responses before the upgrade (an AsyncStream).
//
// Threading: one thread (the session's io_context) at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

typedef struct ssl_st SSL;

namespace sb::gateway {

class tls_socket {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  enum class status { ok, want_read, want_write, closed, failed };
  struct result {
    std::size_t n = 0;
    status st = status::ok;
  };

  // The socket is made non-blocking; `context` stays alive with us.
  tls_socket(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context);
  ~tls_socket();
  tls_socket(const tls_socket&) = delete;
  tls_socket& operator=(const tls_socket&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  const boost::asio::ip::tcp::socket& socket() const { return socket_; }

  result handshake();
  result read(void* data, std::size_t size);
  result write(const void* data, std::size_t size);
  // Decrypted bytes OpenSSL already holds: read them before waiting on
  // the socket, which will not turn readable for them.
  bool has_pending() const;
  // Sends close_notify once, without waiting for the peer's.
  void notify_close();
  // Plaintext staged for writing (a pass's frames, copied into one buffer
  // because TLS records are cut from contiguous bytes): stage(), then
  // write_staged() until it says ok; a retry after want_* may come from a
  // moved buffer, which OpenSSL is told to accept.
  bool staged_empty() const { return staged_done_ == staged_.size(); }
  void stage(const std::string& bytes) { staged_.append(bytes); }
  result write_staged();

  // OpenSSL's reason for the last `failed`.
  const std::string& error() const { return error_; }

  // Asio AsyncReadStream / AsyncWriteStream (first non-empty buffer only,
  // as partial reads and writes allow).
  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    const auto b = first_buffer<boost::asio::mutable_buffer>(buffers);
    step(b.data(), b.size(), false, std::forward<Handler>(handler));
  }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    const auto b = first_buffer<boost::asio::const_buffer>(buffers);
    step(const_cast<void*>(b.data()), b.size(), true, std::forward<Handler>(handler));
  }

 private:
  template <class Buffer, class Sequence>
  static Buffer first_buffer(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (Buffer(*it).size() > 0) return Buffer(*it);
    }
    return Buffer();
  }
  template <class Handler>
  void step(void* data, std::size_t size, bool writing, Handler&& handler) {
    if (size == 0) return finish(std::forward<Handler>(handler), {}, 0);
    const result r = writing ? write(data, size) : read(data, size);
    switch (r.st) {
      case status::ok:
        return finish(std::forward<Handler>(handler), {}, r.n);
      case status::closed:
        return finish(std::forward<Handler>(handler), boost::asio::error::eof, 0);
      case status::failed:
        return finish(std::forward<Handler>(handler), boost::asio::ssl::error::stream_truncated, 0);
      case status::want_read:
      case status::want_write:
        socket_.async_wait(r.st == status::want_read ? boost::asio::ip::tcp::socket::wait_read
                                                      : boost::asio::ip::tcp::socket::wait_write,
                           [this, data, size, writing, h = std::forward<Handler>(handler)](
                               boost::system::error_code ec) mutable {
                             if (ec) return h(ec, std::size_t{0});
                             step(data, size, writing, std::move(h));
                           });
        return;
    }
  }
  // Completions never run inside the initiating call.
  template <class Handler>
  void finish(Handler&& handler, boost::system::error_code ec, std::size_t n) {
    boost::asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler), ec, n]() mutable { h(ec, n); });
  }
  result outcome(int ret, const char* what);

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string staged_;
  std::size_t staged_done_ = 0;  // bytes of staged_ OpenSSL has taken
};

}  // namespace sb::gateway
