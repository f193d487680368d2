// worker_registry.cpp — see worker_registry.hpp.
#include "gateway/worker_registry.hpp"

#include <vector>

#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/server_context.hpp"
#include "gateway/worker_door.hpp"
#include "common/worker_wire.hpp"

namespace sb::gateway {

namespace {
constexpr auto sweep_every = std::chrono::milliseconds(500);
constexpr auto alive_every = std::chrono::seconds(1);
std::string conn_of(const std::string& channel) {
  const auto bang = channel.find('!');
  return bang == std::string::npos ? channel : channel.substr(bang + 1);
}
}  // namespace

worker_registry::worker_registry(server_context& ctx) : ctx_(ctx) {}
worker_registry::~worker_registry() = default;

std::shared_ptr<worker_entry> worker_registry::attach(const std::string& w, const std::string& channel) {
  std::lock_guard lock(mu_);
  auto& rec = workers_[w];
  if (!rec.entry) rec.entry = std::make_shared<worker_entry>(w);
  rec.entry->heard();
  rec.sockets.insert(conn_of(channel));
  return rec.entry;
}

void worker_registry::detach(const std::shared_ptr<worker_entry>& entry, const std::string& channel) {
  std::lock_guard lock(mu_);
  auto it = workers_.find(entry->worker);
  if (it == workers_.end() || it->second.entry != entry) return;  // already declared lost
  it->second.sockets.erase(conn_of(channel));
  if (it->second.sockets.empty()) workers_.erase(it);
}

void worker_registry::on_control(const std::string& event, const std::vector<std::uint32_t>& applied) {
  if (auto b = common::worker_wire::decode_batch(event)) return on_batch(*b, applied);
  auto m = common::worker_wire::decode(event, 0);
  if (!m || m.value().what != common::worker_wire::message::kind::worker_alive) {
    const auto n = ctx_.stats.workers.dropped[gateway_stats::worker_counters::bad_message].fetch_add(1) + 1;
    static common::log_limiter limit;
    common::warn_limited(limit, "django", "control message dropped reason=bad_message detail=\"{:.200}\" dropped_total={}",
                         m ? "not switchboard.worker_alive" : m.error_text(), n);
    return;
  }
  ctx_.stats.workers.from_worker.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  if (auto it = workers_.find(m.value().worker); it != workers_.end()) it->second.entry->heard();
}

void worker_registry::on_batch(const common::result<common::worker_wire::batch>& b,
                               const std::vector<std::uint32_t>& applied) {
  using counters = gateway_stats::worker_counters;
  // anybody who can write to the gateway's inbox can send these
  static common::log_limiter refused_limit, entries_limit;
  if (!b) {
    const auto n = ctx_.stats.workers.dropped[counters::bad_message].fetch_add(1) + 1;
    common::warn_limited(refused_limit, "django", "switchboard.batch refused reason=bad_message detail=\"{:.200}\" dropped_total={}",
                         b.error_text(), n);
    return;
  }
  const auto& batch = b.value();
  ctx_.stats.workers.batches_from_worker.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    if (auto it = workers_.find(batch.worker); it != workers_.end()) it->second.entry->heard();
  }
  std::size_t dropped = batch.problems.size();
  std::string first = dropped ? batch.problems.front() : std::string();
  // Each entry goes to its socket's door, as a message sent to S would
  // (django_consumer::on_layer_message), in the batch's order.
  auto next_applied = applied.begin();  // ascending, as layerd lists them
  for (const auto& e : batch.entries) {
    while (next_applied != applied.end() && *next_applied < e.index) ++next_applied;
    const bool by_layerd = next_applied != applied.end() && *next_applied == e.index;
    const auto parts = common::split_specific_channel(e.socket);
    std::uint64_t conn = 0;
    if (!parts || parts->gateway != ctx_.gateway_id || !ctx_.hub_ref.parse_conn(parts->conn, conn)) {
      if (!dropped++) first = "\"socket\" is not a socket of this gateway";
      continue;
    }
    if (ctx_.doors) {
      ctx_.doors->on_message(conn, std::make_shared<const std::string>(e.bytes), by_layerd);
    } else {
      ctx_.hub_ref.deliver_events(std::make_shared<const std::string>(e.bytes), {conn});
    }
  }
  if (dropped) {
    const auto n = ctx_.stats.workers.dropped[counters::bad_message].fetch_add(dropped) + dropped;
    common::warn_limited(entries_limit, "django", "switchboard.batch entries dropped worker={} entries={} reason=bad_message "
                         "detail=\"{:.200}\" dropped_total={}", batch.worker, dropped, first, n);
  }
}

std::size_t worker_registry::workers() const {
  std::lock_guard lock(mu_);
  return workers_.size();
}

void worker_registry::start() {
  timer_ = std::make_unique<boost::asio::steady_timer>(ctx_.hub_ref.context(0));
  arm();
}

void worker_registry::stop() {
  stopped_.store(true);
  timer_.reset();  // called once thread 0 has stopped: nobody waits on it
}

void worker_registry::arm() {
  if (stopped_.load()) return;
  timer_->expires_after(sweep_every);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_.load()) return;
    sweep(clock::now());
    arm();
  });
}

void worker_registry::sweep(clock::time_point now) {
  if (ctx_.doors) ctx_.doors->sweep(now);
  const auto timeout = std::chrono::milliseconds(ctx_.cfg.worker_timeout_ms);
  const bool alive_due = now >= next_alive_;
  if (alive_due) next_alive_ = now + alive_every;
  std::vector<std::pair<std::string, std::vector<std::string>>> lost, alive;
  {
    std::lock_guard lock(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      std::vector<std::string> conns(it->second.sockets.begin(), it->second.sockets.end());
      if (now - it->second.entry->last_heard() > timeout) {
        lost.emplace_back(it->first, std::move(conns));
        it = workers_.erase(it);
        continue;
      }
      if (alive_due) alive.emplace_back(it->first, std::move(conns));
      ++it;
    }
  }
  for (auto& [w, conns] : lost) {
    const auto n = ctx_.stats.workers.workers_lost.fetch_add(1, std::memory_order_relaxed) + 1;
    static common::log_limiter limit;  // whoever writes to Redis can make workers come and go
    common::warn_limited(limit, "django", "worker lost worker={} sockets={} reason=\"silent for {} ms\" lost_total={}", w,
                         conns.size(), ctx_.cfg.worker_timeout_ms, n);
    ctx_.hub_ref.close_conns(conns, close_reason::worker_lost);
  }
  for (auto& [w, conns] : alive) {
    ctx_.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
    ctx_.link.send(w, common::worker_wire::alive(ctx_.gateway_id, conns), w, [this](const std::string& error) {
      if (error.empty()) return;
      const auto n = ctx_.stats.workers.dropped[gateway_stats::worker_counters::send_failed].fetch_add(1) + 1;
      static common::log_limiter limit;
      common::warn_limited(limit, "django", "switchboard.alive not sent reason=\"{}\" dropped_total={}", error, n);
    });
  }
}

}  // namespace sb::gateway
