// worker_registry.hpp — the Django worker processes this gateway's sockets
// belong to, and whether each is alive (docs/protocol.md, Part 3, Liveness).
//
// The control channel also takes a worker's switchboard.batch (Part 3,
// Batches): each entry goes to its socket's door (worker_door.hpp) as if
// sent to S.
//
// A worker process W is alive while it is heard from: any message about
// one of its sockets, or its switchboard.worker_alive on the control
// channel `specific.<gateway>!ctl`. A sweep every 500 ms closes the
// sockets of a W silent for --worker-timeout-ms with 1012 (service
// restart: the browser reconnects and lands on a live worker), and every
// second the gateway tells each W which of its sockets it still holds
// (switchboard.alive), so a worker can end consumers whose socket is gone.
// The same sweep runs the doors' check for seq gaps that did not fill.
//
// Hearing from W is an atomic store in W's entry, which each socket's door holds
// (no lock, no post per message); attach/detach (once per socket) and the
// sweep take the mutex.
//
// Threading: attach, detach and worker_entry::heard from any thread;
// heard(W), start and stop on hub thread 0.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "common/result.hpp"
#include "common/worker_wire.hpp"

namespace sb::gateway {

struct server_context;

class worker_entry {
 public:
  using clock = std::chrono::steady_clock;
  explicit worker_entry(std::string w) : worker(std::move(w)) { heard(); }
  void heard() { last_ns_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed); }
  clock::time_point last_heard() const { return clock::time_point(clock::duration(last_ns_.load(std::memory_order_relaxed))); }

  const std::string worker;

 private:
  std::atomic<clock::rep> last_ns_{0};
};

class worker_registry {
 public:
  using clock = std::chrono::steady_clock;
  explicit worker_registry(server_context& ctx);
  ~worker_registry();

  // The socket `channel` (S) is W's now; W's entry, which the socket keeps.
  std::shared_ptr<worker_entry> attach(const std::string& worker, const std::string& channel);
  void detach(const std::shared_ptr<worker_entry>& entry, const std::string& channel);
  // A message to the control channel (the conn `ctl` of a DELIVER), on thread 0.
  // `applied`: the entries of a batch its sole layerd applied (DELIVER's applied).
  void on_control(const std::string& event, const std::vector<std::uint32_t>& applied = {});

  void start();  // on hub thread 0's context
  void stop();

  std::size_t workers() const;

 private:
  struct worker {
    std::shared_ptr<worker_entry> entry;
    std::set<std::string> sockets;  // conns: the part of S after '!'
  };
  // A worker's switchboard.batch: each entry to its socket, bad ones counted.
  void on_batch(const common::result<common::worker_wire::batch>& b, const std::vector<std::uint32_t>& applied);
  void arm();
  void sweep(clock::time_point now);

  server_context& ctx_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, worker> workers_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  clock::time_point next_alive_{};
  std::atomic<bool> stopped_{false};
};

}  // namespace sb::gateway
