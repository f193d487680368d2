// layer_server.hpp — layerd's event loop: owns the units and dispatches
// the ROUTER socket, the Redis hosts, timers and posted work to them.
//
// One thread runs zmq_poll over the ROUTER socket, an eventfd (posted work,
// signals) and the Redis fds, so every group's operations are handled in
// arrival order without locks (docs/architecture.md, "threads"). The loop
// itself only dispatches; the work lives in units with narrow interfaces:
// peers (socket, liveness), router (peer protocol, fan-out), membership
// (memory + Redis mirror + group hooks), pending_notifications (a hook),
// django_bridge (channels_redis inboxes), api_operations (HTTP API) and
// room_history (a room's recent messages, stamped before the fan-out) and
// metrics_text (/metrics).
//
// Threading: construct anywhere; run() on one thread; request_stop(),
// request_reload() and post() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include <zmq.hpp>

#include "layerd/api_operations.hpp"
#include "layerd/django_bridge.hpp"
#include "layerd/membership.hpp"
#include "layerd/metrics_text.hpp"
#include "layerd/options.hpp"
#include "layerd/peers.hpp"
#include "layerd/pending_notifications.hpp"
#include "layerd/presence.hpp"
#include "layerd/redis_ring.hpp"
#include "layerd/room_history.hpp"
#include "layerd/router.hpp"

namespace sb::layerd {

class layer_server {
 public:
  using clock = std::chrono::steady_clock;

  // Binds the ROUTER socket; throws std::runtime_error if it cannot.
  explicit layer_server(layerd_config cfg);
  ~layer_server();
  layer_server(const layer_server&) = delete;
  layer_server& operator=(const layer_server&) = delete;

  void run();
  void request_stop() { stop_.store(true); wake(); }
  // From a signal handler: run on_reload on the loop thread soon.
  void request_reload() { reload_.store(true); wake(); }
  std::function<void()> on_reload;

  // Runs `fn` on the loop thread (any thread may call it). Used by the
  // HTTP API, which lives on its own thread.
  void post(std::function<void()> fn);

  // The HTTP API's operations; use only on the loop thread (through post()).
  api_operations& operations() { return api_; }
  const std::string& endpoint() const { return peers_.endpoint(); }

 private:
  void wake();
  void run_posted();
  void tick(clock::time_point now);
  void flush_redis(std::chrono::milliseconds limit);

  layerd_config cfg_;
  peers peers_;
  redis_ring ring_;
  membership members_;
  pending_notifications pending_;
  presence presence_;
  django_bridge bridge_;
  room_history history_;
  router router_;
  metrics_text metrics_;
  api_operations api_;
  std::vector<zmq::pollitem_t> poll_items_;
  clock::time_point next_refresh_;
  clock::time_point next_presence_ = clock::time_point::max();
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  int wake_fd_ = -1;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
};

}  // namespace sb::layerd
