// zmq_frames.hpp — reads one whole ZeroMQ message, frame by frame.
//
// Why: every Switchboard peer (gateway link, layerd, switchboard-cli) must
// take all frames of a message off the socket, even a malformed one with
// too many, so no stray frame is left to be read as the next message. Only
// the first `keep` frames are kept; a caller that sees `keep` of them knows
// the message was at least that long. Header-only: its users link cppzmq.
#pragma once

#include <cstddef>
#include <vector>

#include <zmq.hpp>

namespace sb::proto {

// Empty when no message is waiting (never blocks).
inline std::vector<zmq::message_t> recv_frames(zmq::socket_t& sock, std::size_t keep) {
  std::vector<zmq::message_t> parts;
  while (true) {
    zmq::message_t part;
    if (!sock.recv(part, zmq::recv_flags::dontwait)) break;
    const bool more = part.more();
    if (parts.size() < keep) parts.push_back(std::move(part));
    if (!more) break;
  }
  return parts;
}

}  // namespace sb::proto
