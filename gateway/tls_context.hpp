// tls_context.hpp — the gateway's own TLS (https and wss without nginx).
//
// --tls-cert (PEM, the leaf certificate first, then any intermediates) and
// --tls-key (PEM private key) are loaded into one OpenSSL server context
// that every new connection uses. SIGHUP loads the same paths again, so a
// renewed certificate is picked up without dropping anybody: connections
// already open keep the context they started with (each holds a reference),
// new ones get the new one. A reload that fails keeps the running context.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace sb::gateway {

struct tls_load_result {
  std::shared_ptr<boost::asio::ssl::context> context;  // null on error
  std::string error;
};

// TLS 1.2 and newer, server side. Fails (with OpenSSL's reason) on a
// missing or unreadable file, a file that is not PEM, or a key that does
// not belong to the certificate.
tls_load_result load_tls_context(const std::string& cert_path, const std::string& key_path);

// The context new connections take; swapped whole on reload.
class tls_holder {
 public:
  std::shared_ptr<boost::asio::ssl::context> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return context_;
  }
  void set(std::shared_ptr<boost::asio::ssl::context> c) {
    std::lock_guard<std::mutex> lock(mutex_);
    context_ = std::move(c);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
};

}  // namespace sb::gateway
