// popped_sends.cpp — see popped_sends.hpp.
#include "layerd/popped_sends.hpp"

#include <algorithm>

#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"

namespace sb::layerd {

using kind = common::worker_wire::message::kind;

void popped_sends::hello(const std::string& gateway, bool sole) {
  if (!sole) {
    gateways_.erase(gateway);
    return;
  }
  gateways_[gateway] = gateway_state{};  // a new connection: nothing applied until its first BATCH_DONE
}

void popped_sends::forget(const std::string& gateway) { gateways_.erase(gateway); }

std::size_t popped_sends::marked() const {
  std::size_t n = 0;
  for (const auto& [gateway, g] : gateways_) n += g.marks.size();
  return n;
}

void popped_sends::done(const std::string& gateway, const proto::batch_done& d) {
  auto it = gateways_.find(gateway);
  if (it == gateways_.end()) return;
  auto& g = it->second;
  ++stats_.batch_dones;
  if (d.serial > g.serial) {
    // Never given: not from the gateway's own door. Nothing changes.
    static common::log_limiter limit;
    common::warn_limited(limit, "layerd", "batch_done ignored gateway={} serial={} reason=\"no DELIVER had it (last {})\"",
                         gateway, d.serial, g.serial);
    return;
  }
  g.done = std::max(g.done, d.serial);
  while (!g.order.empty() && g.order.front().first <= g.done) {
    auto mark = g.marks.find(g.order.front().second);
    if (mark != g.marks.end() && mark->second <= g.done) g.marks.erase(mark);
    g.order.pop_front();
  }
  g.waiting.clear();
  g.waiting.insert(d.waiting.begin(), d.waiting.end());
}

void popped_sends::unbatched(const std::string& gateway, const std::string& conn) {
  auto it = gateways_.find(gateway);
  if (it == gateways_.end()) return;
  // Marks stay in serial order: this one is the next serial to be given,
  // at least as high as any mark before it.
  mark(it->second, conn, it->second.serial + 1);
}

void popped_sends::mark(gateway_state& g, const std::string& conn, std::uint64_t serial) {
  if (g.order.size() >= max_marked) {
    if (g.barrier < serial) ++stats_.marks_overflowed;
    g.barrier = std::max(g.barrier, serial);  // every socket waits for this one
    return;
  }
  g.marks[conn] = serial;
  g.order.emplace_back(serial, conn);
}

popped_sends::plan popped_sends::plan_for(const std::string& gateway, const common::worker_wire::group_ops& batch,
                                          const worker_of_fn& worker_of) {
  plan p;
  auto it = gateways_.find(gateway);
  if (it == gateways_.end()) return p;
  auto& g = it->second;
  const std::uint64_t serial = g.serial + 1;  // this DELIVER's, if it gets one
  const bool open = g.done >= g.barrier;
  bool marked = false;
  for (const auto& op : batch.ops) {
    auto parts = common::split_specific_channel(op.socket);
    if (!parts || parts->gateway != gateway) continue;  // the gateway drops it (not its socket)
    const std::string conn(parts->conn);
    const auto& m = op.m;
    if (m.what == kind::group_send) {
      auto mark = g.marks.find(conn);
      const bool clear = open && !g.waiting.count(conn) && (mark == g.marks.end() || mark->second <= g.done);
      const std::string* w = clear ? worker_of(m.data, conn) : nullptr;
      // decode() checked the event (its type is m.type).
      if (w && *w == m.worker && m.worker == batch.worker) {
        p.applied.push_back(op.index);
        p.sends.push_back({m.data, m.event_msgpack, m.type});
        ++stats_.applied;
        continue;
      }
      ++stats_.left;
    }
    // Left to the gateway: S's later group_sends wait for this DELIVER's BATCH_DONE.
    marked = true;
    mark(g, conn, serial);
  }
  if (marked || !open) p.serial = g.serial = serial;
  return p;
}

}  // namespace sb::layerd
