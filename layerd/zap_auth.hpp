// zap_auth.hpp — who may talk to layerd's ROUTER socket: CURVE with
// layerd's secret key, a ZAP handler that lets in only the allow-listed
// public keys, and a check on every message that the key speaks only for
// the routing ids and kinds its entry allows (docs/architecture.md,
// rule 12; docs/operations.md, "Securing layerd's port").
//
// Two checks, because ZAP cannot do it all: libzmq's ZAP request carries
// the peer's public key but, in its "identity" frame, the *server*
// socket's own routing id, not the peer's (libzmq's zap_client sends
// options.routing_id). So the handshake refuses unknown keys, and the loop
// binds each key to its routing id: every received message carries the
// key as its "User-Id" property (set from the ZAP reply), and check()
// refuses a message whose routing id or kind the key's entry does not
// allow. With keys, ROUTER handover is off: a connection that claims a
// routing id already connected is ignored by libzmq instead of taking the
// id over, so no impostor (not even one holding an allowed key) can cut a
// gateway off. A gateway that reconnects gets its id back once layerd has
// seen its old connection close (it reconnects after 100 ms; each run has
// a new id anyway, docs/architecture.md, rule 11).
//
// The ZAP handler and the socket monitor (handshake failures: no CURVE, a
// wrong server key, garbage) run on a small thread of their own rather than
// in layerd's loop: a flood of handshakes then never delays fan-out
// (rule 3), and that thread touches no membership, only the immutable
// allow-list and atomic counters.
//
// Threading: construct and secure() on layerd's loop thread before the
// ROUTER binds; check() on the loop thread; refused() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <zmq.hpp>

#include "layerd/allow_list.hpp"

namespace sb::layerd {

class zap_auth {
 public:
  // Why a peer was refused; the label of switchboard_layerd_auth_refused_total.
  enum reason : std::size_t {
    handshake,    // the handshake failed: no CURVE, a wrong server key, garbage
    unknown_key,  // a CURVE key that is not on the allow-list
    routing_id,   // a message from a routing id the key may not use
    role,         // a client key sent what only a gateway may send
    reason_count
  };
  static const char* reason_name(reason r);

  // Reads the secret key and the allow-list and binds the ZAP handler in
  // `ctx`; throws std::runtime_error with the reason when it cannot.
  zap_auth(zmq::context_t& ctx, const std::string& secret_file, const std::string& allow_file);
  ~zap_auth();
  zap_auth(const zap_auth&) = delete;
  zap_auth& operator=(const zap_auth&) = delete;

  // Makes `router` a CURVE server checked by this handler, without
  // handover, and watches its handshakes; call before it binds.
  void secure(zmq::socket_t& router);

  // A message from `peer` whose kind frame is `kind_frame` (it carries the
  // User-Id): nothing when it may go on; else the text of the ERROR to
  // send back (already counted and logged).
  std::optional<std::string> check(const std::string& peer, zmq::message_t& kind_frame, std::string_view body);

  std::array<std::uint64_t, reason_count> refused() const;
  const std::string& public_key() const { return public_key_; }

 private:
  void run();
  void on_zap_request();
  void on_monitor_event();
  void count(reason r) { refused_[r].fetch_add(1, std::memory_order_relaxed); }

  std::string secret_key_, public_key_;
  allow_list allowed_;
  zmq::context_t& ctx_;
  zmq::socket_t zap_;
  std::optional<zmq::socket_t> monitor_;
  std::string monitor_endpoint_;
  std::array<std::atomic<std::uint64_t>, reason_count> refused_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sb::layerd
