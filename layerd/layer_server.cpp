// layer_server.cpp — see layer_server.hpp.
#include "layerd/layer_server.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "common/logging.hpp"
#include "common/service_notify.hpp"

namespace sb::layerd {

layer_server::layer_server(layerd_config cfg)
    : cfg_(std::move(cfg)),
      peers_(cfg_.bind, cfg_.curve_secret_file, cfg_.curve_allow_file),
      ring_(cfg_.redis_hosts),
      members_(ring_, cfg_.prefix, cfg_.group_expiry_s),
      pending_(cfg_, ring_, peers_),
      presence_(cfg_, peers_),
      bridge_(cfg_, ring_, peers_, pending_),
      history_(cfg_, ring_),
      router_(cfg_, peers_, members_, bridge_, history_),
      metrics_(peers_, router_, members_, bridge_, ring_, history_),
      api_(cfg_, ring_, members_, router_, bridge_, metrics_) {
  members_.attach(pending_);
  members_.attach(presence_);
  router_.attach_presence(presence_);
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    ring_.at(i).commands.on_connected = [this, i] {
      std::vector<bool> only(ring_.size(), false);
      only[i] = true;
      members_.rewrite(only);
    };
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  next_refresh_ = clock::now() + std::chrono::seconds(cfg_.refresh_interval_s);
}

layer_server::~layer_server() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void layer_server::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void layer_server::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  wake();
}

void layer_server::run_posted() {
  std::uint64_t v;
  [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void layer_server::run() {
  auto log = common::log("layerd");
  std::string hosts;
  for (std::size_t i = 0; i < ring_.size(); ++i) hosts.append(i ? "," : "").append(common::describe(ring_.at(i).url));
  std::string history;
  for (const auto& h : cfg_.history) {
    history.append(history.empty() ? "" : ", ").append(h.pattern + " " + std::to_string(h.maxlen) + " " +
                                                         std::to_string(h.ttl_s) + "s");
  }
  log->info("layerd ready id={} bind={} redis={} shards={} prefix={} history=\"{}\"", cfg_.id, endpoint(), hosts,
            ring_.size(), cfg_.prefix, history.empty() ? "off" : history);
  common::notify_ready("serving " + endpoint());
  while (!stop_.load()) {
    if (reload_.exchange(false) && on_reload) on_reload();
    auto now = clock::now();
    tick(now);
    auto wait = std::min(ring_.tick(now), std::chrono::milliseconds(250));
    if (next_presence_ != clock::time_point::max()) {  // a presence window ends sooner
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(next_presence_ - now) +
                                std::chrono::milliseconds(1));
    }
    bridge_.do_pop();
    auto& items = poll_items_;
    items.clear();
    items.push_back({peers_.socket().handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    ring_.add_poll_items(items);  // from index 2 on
    try {
      zmq::poll(items.data(), items.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (items[0].revents & ZMQ_POLLIN) router_.on_readable();
    if (items[1].revents & ZMQ_POLLIN) run_posted();
    ring_.dispatch(items, 2);
  }
  common::notify_stopping("stopping");
  log->info("layerd stopping id={}", cfg_.id);
  flush_redis(std::chrono::milliseconds(500));
}

// What the last loop turns queued for Redis (a history XADD behind a line
// already fanned out, a presence update) leaves before the process ends,
// and is answered: a socket closed with replies unread is reset, and a
// reset loses what the kernel had not sent yet. At most `limit` (a Redis
// that takes nothing does not hold the stop).
void layer_server::flush_redis(std::chrono::milliseconds limit) {
  const auto until = clock::now() + limit;
  auto& items = poll_items_;
  while (ring_.busy()) {
    const auto now = clock::now();
    if (now >= until) {
      common::log("layerd")->warn("stopping with commands Redis did not answer within {} ms", limit.count());
      return;
    }
    items.clear();
    ring_.hurry();
    ring_.add_poll_items(items);
    try {
      zmq::poll(items.data(), items.size(), std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    ring_.dispatch(items, 0);
  }
}

void layer_server::tick(clock::time_point now) {
  router_.tick(now);
  next_presence_ = presence_.tick(now);
  bridge_.tick(now);
  history_.tick(now);
  if (now >= next_refresh_) {
    next_refresh_ = now + std::chrono::seconds(cfg_.refresh_interval_s);
    std::vector<bool> up(ring_.size());
    for (std::size_t i = 0; i < ring_.size(); ++i) up[i] = ring_.connected(i);
    members_.rewrite(up);
  }
}

}  // namespace sb::layerd
