// layer_client.hpp — switchboard-cli's short-lived link to one layerd.
//
// The CLI publishes the way a gateway does, so layerd needs no second
// protocol: a DEALER whose routing id is `cli.<16 random hex>` says HELLO
// with that id and waits for WELCOME. To learn whether a GROUP_SEND or
// SEND was refused without guessing a delay, each is followed by a
// HEARTBEAT: layerd handles one peer's messages in order and answers a
// heartbeat with a heartbeat, so an ERROR about the send, if any, arrives
// before that reply. Every wait is bounded by the timeout given at
// construction.
//
// Blocking and single-threaded: one object, used by one thread, then
// destroyed (the destructor lingers up to the timeout to flush).
#pragma once

#include <chrono>
#include <optional>
#include <variant>
#include <string>

#include <zmq.hpp>

#include "common/curve_keys.hpp"
#include "common/result.hpp"
#include "proto/messages.hpp"

namespace sb::cli {

class layer_client {
 public:
  // With `curve`, the link is a CURVE client of layerd's key.
  layer_client(std::string endpoint, std::chrono::milliseconds timeout,
               const std::optional<common::curve_client_keys>& curve = std::nullopt);
  ~layer_client();
  layer_client(const layer_client&) = delete;
  layer_client& operator=(const layer_client&) = delete;

  // Connects, says HELLO and waits for WELCOME. The error says why not
  // (no answer within the timeout, or layerd's ERROR).
  common::result<proto::welcome> run();

  // Sends m (a group_send or send), then waits for layerd to have handled
  // it: nullopt when it was accepted, the ERROR when it was refused; a
  // result error when layerd did not answer within the timeout.
  common::result<std::optional<proto::error>> send_checked(const proto::message& m);

  // Asks for `group`'s presence (PRESENCE_GET): the state, or layerd's
  // ERROR; a result error when no answer came within the timeout.
  common::result<std::variant<proto::presence_state, proto::error>> presence(const std::string& group);

  const std::string& id() const { return id_; }

 private:
  using clock = std::chrono::steady_clock;

  void do_send(const proto::message& m);
  // The next message from layerd, or nullopt at the deadline. Frames that
  // do not decode are skipped.
  std::optional<proto::message> recv_until(clock::time_point deadline);

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  std::string id_;
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  bool welcomed_ = false;
  bool curve_ = false;
};

// "code: text" of a layerd ERROR, for one line on stderr.
std::string describe(const proto::error& e);

}  // namespace sb::cli
