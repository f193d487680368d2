// test_gateway.hpp — a ZeroMQ DEALER that plays a gateway (or a client)
// against layerd's peers socket on loopback, for unit tests of the router
// and the Django bridge.
//
// send() and receive() speak layerd's framing ([kind, body]); the test
// drives the layerd side itself (router::on_readable() or reading the
// ROUTER socket), so nothing runs on another thread.
//
// Threading: the test's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "layerd/peers.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::layerd::testing {

class test_gateway {
 public:
  test_gateway(const std::string& endpoint, const std::string& id) : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::routing_id, id);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  void send(const proto::message& m) {
    const auto k = static_cast<std::uint8_t>(proto::kind_of(m));
    socket_.send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(proto::encode(m)), zmq::send_flags::none);
  }

  // The next message from layerd, or nothing within `timeout_ms`.
  std::optional<proto::message> receive(int timeout_ms = 1000) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return std::nullopt;
    auto parts = proto::recv_frames(socket_, 2);
    if (parts.size() != 2 || parts[0].size() != 1) return std::nullopt;
    auto m = proto::decode(*static_cast<const std::uint8_t*>(parts[0].data()), parts[1].to_string_view());
    if (!m) return std::nullopt;
    return m.value();
  }

  // Waits until `socket` (layerd's ROUTER) can read.
  static bool readable(zmq::socket_t& socket, int timeout_ms = 1000) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    return zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) > 0;
  }

  // Makes the ROUTER know this peer (it learns a routing id on the first
  // message): sends a heartbeat and reads it off `p`'s socket.
  void introduce_to(peers& p) {
    send(proto::heartbeat{});
    if (readable(p.socket())) proto::recv_frames(p.socket(), 3);
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
};

}  // namespace sb::layerd::testing
