// worker_outbox.cpp — see worker_outbox.hpp.
#include "gateway/worker_outbox.hpp"

#include <memory>

#include <msgpack.hpp>

#include "gateway/layer_link.hpp"
#include "gateway/server_context.hpp"
#include "common/worker_wire.hpp"

namespace sb::gateway {

void worker_outbox::send(const std::string& worker, std::string message, bool alone, fail_callback on_fail) {
  bool full = false;
  {
    std::lock_guard lock(mu_);
    auto& q = queues_[worker];
    if (!q.in_flight) {
      q.in_flight = true;  // nothing in flight: this one goes at once
    } else if (q.waiting.size() >= max_waiting || q.bytes + message.size() > max_waiting_bytes) {
      full = true;
    } else {
      q.bytes += message.size();
      q.waiting.push_back({std::move(message), alone, std::move(on_fail)});
      return;
    }
  }
  if (full) {
    if (on_fail) on_fail("too many messages waiting for this worker process");
    return;
  }
  std::vector<item> one;
  one.push_back({std::move(message), alone, std::move(on_fail)});
  launch(worker, std::move(one));  // outside the lock: the link may answer on this thread
}

std::size_t worker_outbox::waiting() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [w, q] : queues_) n += q.waiting.size();
  return n;
}

void worker_outbox::launch(const std::string& worker, std::vector<item> items) {
  std::string message;
  if (items.size() == 1) {
    message = std::move(items.front().message);
  } else {
    // {"type": "switchboard.batch", "messages": [m, ...]}: each m's bytes as they are
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(2);
    pk.pack(std::string_view("type"));
    pk.pack(std::string_view("switchboard.batch"));
    pk.pack(std::string_view("messages"));
    pk.pack_array(static_cast<std::uint32_t>(items.size()));
    for (auto& it : items) buf.write(it.message.data(), it.message.size());
    message.assign(buf.data(), buf.size());
    stats_.workers.batches_to_worker.fetch_add(1, std::memory_order_relaxed);
  }
  auto shared = std::make_shared<std::vector<item>>(std::move(items));
  link_.send(worker, std::move(message), worker, [this, worker, shared](const std::string& error) {
    if (!error.empty()) {
      for (auto& it : *shared) {
        if (it.on_fail) it.on_fail(error);
      }
    }
    done(worker);
  });
}

void worker_outbox::done(const std::string& worker) {
  std::vector<item> next;
  {
    std::lock_guard lock(mu_);
    auto it = queues_.find(worker);
    if (it == queues_.end()) return;
    auto& q = it->second;
    if (q.waiting.empty()) {
      queues_.erase(it);
      return;
    }
    std::size_t bytes = 0;
    while (!q.waiting.empty() && next.size() < common::worker_wire::max_batch_messages) {
      auto& front = q.waiting.front();
      const bool alone = front.alone || front.message.size() > max_batch_bytes;
      if (!next.empty() && (alone || bytes + front.message.size() > max_batch_bytes)) break;
      bytes += front.message.size();
      q.bytes -= front.message.size();
      next.push_back(std::move(front));
      q.waiting.pop_front();
      if (alone) break;
    }
  }
  launch(worker, std::move(next));
}

}  // namespace sb::gateway
