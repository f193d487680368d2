// gateway_config.hpp — every gateway setting, filled from the command line.
//
// The defaults live here and only here: options.cpp binds each option to
// its field and shows the field's initial value in --help.
//
// Plain values; read-only after start-up, so any thread may read it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/limits.hpp"

namespace sb::gateway {

struct gateway_config {
  std::string listen_host = "127.0.0.1";
  unsigned short listen_port = 8000;
  std::vector<std::string> layerds{"tcp://127.0.0.1:7100"};
  std::string id = "gw";
  std::size_t threads = 1;
  std::size_t max_message_size = common::limits::default_max_message_size;
  double rate_limit = common::limits::default_rate_limit;
  double rate_burst = common::limits::default_rate_burst;
  std::size_t send_queue_bytes = common::limits::default_send_queue_bytes;
  std::size_t send_queue_messages = common::limits::default_send_queue_messages;
  int slow_consumer_ms = common::limits::default_slow_consumer_ms;  // 0: close as soon as a queue is full
  int heartbeat_ms = common::limits::default_heartbeat_ms;
  int layerd_timeout_ms = common::limits::default_layerd_timeout_ms;
  int join_timeout_ms = common::limits::default_join_timeout_ms;
  int connect_timeout_ms = common::limits::default_connect_timeout_ms;  // django routes: a worker's accept
  int worker_timeout_ms = common::limits::default_worker_timeout_ms;    // django routes: a silent worker is gone
  int send_timeout_ms = common::limits::default_send_timeout_ms;        // django routes: a SEND layerd never answers
  int history_timeout_ms = common::limits::default_history_timeout_ms;  // a replay layerd never answers
  std::size_t unacked_max_messages = common::limits::default_unacked_max_messages;
  std::size_t unacked_max_bytes = common::limits::default_unacked_max_bytes;
  int ping_interval_ms = common::limits::default_ping_interval_ms;
  int ping_timeout_ms = common::limits::default_ping_timeout_ms;
  int flush_interval_us = 0;                 // 0: write at the end of each reactor pass
  int drain_timeout_ms = 10000;              // SIGTERM: how long clients get to leave before the process exits
  std::vector<std::string> allowed_origins;  // empty: the request's own Host
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For/-Proto are believed
  // WebSocket routes, "PATTERN KIND", tried in order (gateway/router.hpp);
  // the same list as route_table::default_specs().
  std::vector<std::string> routes{"/ws/chat/<room_name>/ chat", "/ws/notification/<center_name>/ notification"};
  std::string tls_cert;                      // both set: https and wss on --listen
  std::string tls_key;
  // CURVE to the layerds (docs/operations.md, "Securing layerd's port"):
  // both set, or both empty. One layerd public key serves every --layerd.
  std::string curve_secret_file;
  std::string layerd_public_key_file;
  // Identity (docs/protocol.md, Identity): HS256 tokens with this secret
  // (given, or read from the file at start-up; at most one of the two).
  std::string jwt_secret;
  std::string jwt_secret_file;
  int jwt_leeway_s = common::limits::default_jwt_leeway_s;
  // "allow" or "deny"; empty: allow without a secret, deny with one.
  std::string anonymous;
  bool anonymous_allowed() const { return anonymous.empty() ? jwt_secret.empty() : anonymous == "allow"; }
};

}  // namespace sb::gateway
