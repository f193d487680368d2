// worker_outbox.hpp — the gateway's messages to Django worker processes
// that batch (docs/protocol.md, Part 3, Batches).
//
// Per worker process W at most one SEND is in flight. A message for W goes
// at once when nothing is; while a SEND awaits its answer from layerd
// (ACK or ERROR, or at once from a layerd before 1.3), what comes for W
// waits here and goes as one `switchboard.batch` when it is answered, so
// nothing waits at light load and under load one Redis message carries
// many. Batches hold at most common::worker_wire::max_batch_messages messages and
// max_batch_bytes; a message marked `alone` (an event: its depth and items
// are the event's own, and a batch adds levels) is sent by itself when its
// turn comes, so W still gets every message in the order it was given.
// Bounded: past max_waiting messages or max_waiting_bytes waiting for one
// W, a message fails at once, as a SEND that failed.
//
// A failure (the SEND of a batch refused, no layerd) calls each of its
// messages' on_fail, which applies Part 3's rule for that message.
//
// Threading: send() from any thread (one mutex); SEND answers arrive on
// the layer link's thread and on_fail runs there.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sb::gateway {

class layer_link;
struct gateway_stats;

class worker_outbox {
 public:
  using fail_callback = std::function<void(const std::string& error)>;
  static constexpr std::size_t max_batch_bytes = 256 * 1024;
  static constexpr std::size_t max_waiting = 10000;
  static constexpr std::size_t max_waiting_bytes = 16 * 1024 * 1024;

  worker_outbox(layer_link& link, gateway_stats& stats) : link_(link), stats_(stats) {}

  // `message` (a Part 3 message, msgpack) to W; `alone`: never in a batch.
  void send(const std::string& worker, std::string message, bool alone, fail_callback on_fail);

  std::size_t waiting() const;

 private:
  struct item {
    std::string message;
    bool alone = false;
    fail_callback on_fail;
  };
  struct queue {
    std::deque<item> waiting;
    std::size_t bytes = 0;
    bool in_flight = false;
  };
  // SENDs `items` to W (one message alone, or a batch); answered in done().
  void launch(const std::string& worker, std::vector<item> items);
  void done(const std::string& worker);

  layer_link& link_;
  gateway_stats& stats_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, queue> queues_;
};

}  // namespace sb::gateway
