// consumer_socket.hpp — the socket as its consumer sees it: a name and a reply.
//
// Django's self.channel_name and self.send(): all a consumer needs of the
// transport. websocket_session implements it; tests use a recorder. The
// delivery path never goes through it (the hub calls the session directly).
//
// Threading: called only on the session's own thread.
#pragma once

#include <memory>
#include <string>

namespace sb::gateway {

class consumer_socket {
 public:
  // This socket's channel name (common/names.hpp make_channel), as layerd knows it.
  virtual std::string channel() const = 0;
  // Queues a complete frame for this socket alone.
  virtual void reply(std::shared_ptr<const std::string> frame) = 0;

 protected:
  ~consumer_socket() = default;
};

}  // namespace sb::gateway
