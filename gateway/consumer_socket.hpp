// consumer_socket.hpp — the socket as its consumer sees it: a name and a reply.
//
// Django's self.channel_name and self.send(): all a built-in consumer needs
// of the transport. A Django route's consumer (django_consumer.hpp) also
// closes with a code, joins several groups locally and hops back to the
// socket's thread; those have no-op defaults. websocket_session implements
// it; tests use a recorder. The built-in delivery path never goes through
// it (the hub calls the session directly).
//
// Threading: called only on the session's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/close_reason.hpp"

namespace sb::gateway {

class consumer_socket {
 public:
  // This socket's channel name (common/names.hpp make_channel), as layerd knows it.
  virtual std::string channel() const = 0;
  // Queues a complete frame for this socket alone.
  virtual void reply(std::shared_ptr<const std::string> frame) = 0;

  // Closes an open socket (websocket_session::close).
  virtual void close_with(close_cause) {}
  // The code the socket closed with: the browser's (1005 when its close
  // frame had none), the gateway's own, or 1006 when it dropped without one.
  virtual std::uint16_t close_code() const { return 1006; }
  // Local membership of one of several groups (the hub's lists, for GROUP_DELIVER).
  virtual void join_local(const std::string&) {}
  virtual void leave_local(const std::string&) {}
  // A function that may be called from any thread (a link callback on
  // thread 0): it runs its argument later on this socket's thread, if the
  // socket still exists then. Ask for it on the socket's thread.
  using poster_fn = std::function<void(std::function<void()>)>;
  virtual poster_fn poster() { return [](std::function<void()>) {}; }
  // As poster(), but called on the socket's own thread it runs its
  // argument at once: what hub::deliver_events does, so the two keep one
  // order (worker_door.hpp).
  virtual poster_fn dispatcher() { return [](std::function<void()>) {}; }
  // The socket's conn id (hub.hpp).
  virtual std::uint64_t conn() const { return 0; }

 protected:
  ~consumer_socket() = default;
};

}  // namespace sb::gateway
