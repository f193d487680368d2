// tls_context.cpp — see tls_context.hpp.
#include "gateway/tls_context.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace sb::gateway {
namespace {

std::string openssl_reason(const boost::system::error_code& ec) {
  std::string why = ec ? ec.message() : std::string("OpenSSL");
  // The error code keeps only the last OpenSSL error; the queue may say more.
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    why.append("; ").append(buf);
  }
  return why;
}

}  // namespace

tls_load_result load_tls_context(const std::string& cert_path, const std::string& key_path) {
  namespace ssl = boost::asio::ssl;
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec) return {nullptr, "cannot set TLS options: " + openssl_reason(ec)};
  for (const auto* path : {&cert_path, &key_path}) {
    std::FILE* probe = std::fopen(path->c_str(), "r");
    if (!probe) {
      return {nullptr, std::string("cannot load ").append(path == &cert_path ? "--tls-cert " : "--tls-key ")
                           .append(*path).append(": ").append(std::strerror(errno))};
    }
    std::fclose(probe);
  }
  ctx->use_certificate_chain_file(cert_path, ec);
  if (ec) return {nullptr, std::string("cannot load --tls-cert ").append(cert_path).append(": ").append(openssl_reason(ec))};
  // The key is read on its own first, so that a key that is fine but
  // belongs to another certificate gets its own message.
  std::FILE* f = std::fopen(key_path.c_str(), "r");
  if (!f) return {nullptr, std::string("cannot load --tls-key ").append(key_path).append(": ").append(std::strerror(errno))};
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!key) {
    return {nullptr, std::string("cannot load --tls-key ").append(key_path).append(": not a PEM private key (")
                         .append(openssl_reason({})).append(")")};
  }
  const int used = SSL_CTX_use_PrivateKey(ctx->native_handle(), key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return {nullptr, std::string("--tls-key ").append(key_path).append(" does not match the certificate in ").append(cert_path)};
  }
  // Sessions are resumed from tickets; nothing to keep per client here.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  // An idle connection gives OpenSSL's record buffers back (about 33 KiB).
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  // A client that just closes TCP (no close_notify) has simply gone: the
  // WebSocket close handshake, not TLS, says whether data was lost.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  return {std::move(ctx), {}};
}

}  // namespace sb::gateway
