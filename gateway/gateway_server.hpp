// gateway_server.hpp — assembles a gateway: threads (hub), layer link, listener.
//
// main() stays thin: it parses options into a gateway_config and calls
// run(). Construction does everything that can fail at start-up (bad
// endpoint, address in use) and throws with a clear text.
//
// Threading: construct and run() on the main thread; run() blocks until
// SIGINT or SIGTERM.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "gateway/gateway_config.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/listener.hpp"
#include "gateway/server_context.hpp"
#include "gateway/worker_door.hpp"
#include "gateway/worker_outbox.hpp"
#include "gateway/worker_registry.hpp"

namespace sb::gateway {

class gateway_server {
 public:
  explicit gateway_server(gateway_config cfg);
  ~gateway_server();

  // Blocks until SIGINT/SIGTERM, then drains and stops everything. SIGHUP
  // calls on_reload (re-read the config: the log level), loads the TLS
  // certificate and key again, and keeps going.
  void run();
  std::function<void()> on_reload;
  void reload_tls();

  const std::string& gateway_id() const { return ctx_->gateway_id; }

  // "<id>.<16 random hex>" — unique per run so a restarted gateway never
  // inherits a dead one's channels.
  static std::string make_run_id(const std::string& id);

 private:
  gateway_config cfg_;
  hub hub_;
  std::unique_ptr<layer_link> link_;
  std::unique_ptr<server_context> ctx_;
  std::unique_ptr<worker_registry> workers_;
  std::unique_ptr<worker_outbox> outbox_;
  std::unique_ptr<worker_door> doors_;
  std::shared_ptr<listener> listener_;
};

}  // namespace sb::gateway
