// peers.hpp — layerd's ZeroMQ ROUTER socket and who is on the other end:
// gateways (which own sockets and members) and clients (switchboard-cli,
// backends: they may publish, nothing else).
//
// The socket is ROUTER_MANDATORY and sends never block: a peer that is gone
// or whose queue is full loses the message, counted in send_drops, so one
// slow gateway cannot stall the loop. Liveness is last-heard time; expire()
// says which gateways fell silent, and the caller removes their members.
//
// Threading: owned by the layerd loop thread (layer_server); not
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "layerd/zap_auth.hpp"
#include "proto/messages.hpp"

namespace sb::layerd {

class peers {
 public:
  using clock = std::chrono::steady_clock;

  struct stats {
    std::uint64_t send_drops = 0;  // messages to peers dropped: unreachable or queue full
  };

  // Binds the ROUTER socket, a CURVE server when both key files are
  // given; throws std::runtime_error if it cannot.
  explicit peers(const std::string& bind, const std::string& curve_secret_file = {},
                 const std::string& curve_allow_file = {});

  zmq::socket_t& socket() { return socket_; }
  const std::string& endpoint() const { return endpoint_; }

  bool is_gateway(const std::string& id) const { return gateways_.count(id) != 0; }
  bool is_client(const std::string& id) const { return clients_.count(id) != 0; }
  // Whether the gateway of a Switchboard channel (specific.<gateway>!<conn>) is live.
  bool owns_channel(std::string_view channel) const;
  const std::unordered_map<std::string, clock::time_point>& gateways() const { return gateways_; }
  std::size_t client_count() const { return clients_.size(); }

  // A peer was heard from: renews its liveness.
  void heard(const std::string& id, clock::time_point now);
  // HELLOs; each returns true when the peer is new in that role.
  bool hello_gateway(const std::string& id, clock::time_point now);
  bool hello_client(const std::string& id, clock::time_point now);
  void forget_gateway(const std::string& id) { gateways_.erase(id); }
  // Gateways silent longer than `timeout` (not yet forgotten); silent
  // clients are forgotten here, quietly.
  std::vector<std::string> expire(clock::time_point now, clock::duration timeout);

  // Sends [kind, body] to `peer` without blocking; false when dropped.
  bool send_raw(const std::string& peer, std::uint8_t kind, const std::string& body);
  void reply(const std::string& peer, const proto::message& m);

  const stats& counters() const { return stats_; }
  // The CURVE checks; nullptr when layerd runs without keys.
  zap_auth* auth() { return auth_.get(); }
  const zap_auth* auth() const { return auth_.get(); }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::unique_ptr<zap_auth> auth_;  // after socket_: its thread stops before the socket closes
  std::string endpoint_;
  std::unordered_map<std::string, clock::time_point> gateways_;
  std::unordered_map<std::string, clock::time_point> clients_;
  stats stats_;
};

}  // namespace sb::layerd
