// layer_link.cpp — see layer_link.hpp.
#include "gateway/layer_link.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "gateway/hub.hpp"
#include "gateway/ws_frame.hpp"
#include "proto/codec.hpp"

namespace sb::gateway {

layer_link::layer_link(const gateway_config& cfg, std::string gateway_id, hub& h)
    : cfg_(cfg), gateway_id_(std::move(gateway_id)), hub_(h), ring_(cfg.layerds) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  for (const auto& ep : cfg_.layerds) {
    peer p;
    p.endpoint = ep;
    p.sock = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    p.sock->set(zmq::sockopt::routing_id, gateway_id_);
    p.sock->set(zmq::sockopt::immediate, 1);  // never queue for a layerd we are not connected to
    p.sock->set(zmq::sockopt::linger, 200);
    p.sock->set(zmq::sockopt::sndhwm, 100000);
    p.sock->set(zmq::sockopt::rcvhwm, 100000);
    p.sock->set(zmq::sockopt::reconnect_ivl, 100);
    p.sock->set(zmq::sockopt::reconnect_ivl_max, 2000);
    p.sock->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(common::limits::max_proto_body));
    try {
      p.sock->connect(ep);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error("bad --layerd endpoint " + ep + ": " + e.what());
    }
    peers_.push_back(std::move(p));
  }
  alive_.assign(peers_.size(), false);
  for (auto& p : peers_) p.down_since = clock::now();
}

layer_link::~layer_link() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void layer_link::start() {
  thread_ = std::thread([this] { loop(); });
}

void layer_link::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void layer_link::push(command c) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(c));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void layer_link::group_add(std::string group, std::string channel, join_callback cb) {
  push(add_cmd{std::move(group), std::move(channel), std::move(cb)});
}
void layer_link::group_discard(std::string group, std::string channel) {
  push(discard_cmd{std::move(group), std::move(channel)});
}
void layer_link::group_send(std::string group, std::string event) {
  push(send_cmd{std::move(group), std::move(event)});
}

std::optional<std::size_t> layer_link::owner(const std::string& group) const { return ring_.owner(group, alive_); }

bool layer_link::send_to(std::size_t p, const proto::message& m) {
  const auto k = static_cast<std::uint8_t>(proto::kind_of(m));
  const std::string body = proto::encode(m);
  try {
    if (!peers_[p].sock->send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    peers_[p].sock->send(zmq::buffer(body), zmq::send_flags::none);
    return true;
  } catch (const zmq::error_t& e) {
    common::log("link")->warn("send failed layerd={} kind={} error=\"{}\"", peers_[p].endpoint,
                              proto::kind_name(k), e.what());
    return false;
  }
}

void layer_link::loop() {
  auto log = common::log("link");
  log->info("layer link started gateway={} layerds={}", gateway_id_, peers_.size());
  std::vector<zmq::pollitem_t> items(peers_.size() + 1);
  while (true) {
    const auto now = clock::now();
    tick(now);
    run_commands();
    if (stop_.load()) break;
    for (std::size_t i = 0; i < peers_.size(); ++i) items[i] = {peers_[i].sock->handle(), 0, ZMQ_POLLIN, 0};
    items.back() = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      log->error("poll failed error=\"{}\"", e.what());
      continue;
    }
    if (items.back().revents & ZMQ_POLLIN) {
      std::uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
    }
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      for (int batch = 0; batch < 4096; ++batch) {
        std::vector<zmq::message_t> parts;
        while (true) {
          zmq::message_t part;
          if (!peers_[i].sock->recv(part, zmq::recv_flags::dontwait)) break;
          const bool more = part.more();
          if (parts.size() < 4) parts.push_back(std::move(part));
          if (!more) break;
        }
        if (parts.empty()) break;
        if (parts.size() != 2 || parts[0].size() != 1) {
          stats_.malformed_in.fetch_add(1);
          log->warn("malformed message layerd={} frames={}", peers_[i].endpoint, parts.size());
          continue;
        }
        on_message(i, *static_cast<const std::uint8_t*>(parts[0].data()),
                   std::string_view(static_cast<const char*>(parts[1].data()), parts[1].size()));
      }
    }
  }
  // Leaving: an empty SYNC removes all our members at once, instead of
  // layerd waiting for our heartbeats to time out.
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].up) send_to(i, proto::sync{});
  }
  fail_pending(peers_.size(), "gateway stopping");
  log->info("layer link stopped gateway={}", gateway_id_);
}

void layer_link::run_commands() {
  std::vector<command> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
  }
  auto log = common::log("link");
  for (auto& c : batch) {
    if (auto* a = std::get_if<add_cmd>(&c)) {
      members_[a->group].insert(a->channel);
      auto p = owner(a->group);
      if (!p) {
        a->cb(false, "no layerd available");
        continue;
      }
      const std::uint64_t req = next_request_++;
      if (!send_to(*p, proto::group_add{req, a->group, a->channel})) {
        a->cb(false, "layerd queue full");
        continue;
      }
      pending_.emplace(req, pending_join{std::move(a->cb),
                                         clock::now() + std::chrono::milliseconds(cfg_.join_timeout_ms), *p});
    } else if (auto* d = std::get_if<discard_cmd>(&c)) {
      if (auto it = members_.find(d->group); it != members_.end()) {
        it->second.erase(d->channel);
        if (it->second.empty()) members_.erase(it);
      }
      if (auto p = owner(d->group)) send_to(*p, proto::group_discard{d->group, d->channel});
    } else if (auto* s = std::get_if<send_cmd>(&c)) {
      auto p = owner(s->group);
      if (!p || !send_to(*p, proto::group_send{s->group, std::move(s->event)})) {
        if (stats_.dropped_no_layerd.fetch_add(1) % 1000 == 0) {
          log->warn("group_send dropped group={} reason=\"no layerd available\" dropped_total={}", s->group,
                    stats_.dropped_no_layerd.load());
        }
        continue;
      }
      stats_.group_sends.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void layer_link::on_message(std::size_t p, std::uint8_t kind, std::string_view body) {
  auto log = common::log("link");
  auto decoded = proto::decode(kind, body);
  if (!decoded) {
    stats_.malformed_in.fetch_add(1);
    log->warn("malformed message layerd={} error=\"{}\"", peers_[p].endpoint, decoded.error_text());
    return;
  }
  peers_[p].last_heard = clock::now();
  auto& m = decoded.value();
  if (auto* d = std::get_if<proto::deliver>(&m)) {
    stats_.delivers_in.fetch_add(1, std::memory_order_relaxed);
    auto frame = common::browser_frame_for_event(d->event);
    if (!frame) {
      stats_.malformed_in.fetch_add(1);
      log->warn("deliver dropped layerd={} error=\"{}\"", peers_[p].endpoint, frame.error_text());
      return;
    }
    // Framed once here; every target socket queues these same bytes.
    hub_.deliver(ws::make_shared_text(frame.value()), d->targets);
  } else if (auto* g = std::get_if<proto::group_deliver>(&m)) {
    stats_.delivers_in.fetch_add(1, std::memory_order_relaxed);
    auto frame = common::browser_frame_for_event(g->event);
    if (!frame) {
      stats_.malformed_in.fetch_add(1);
      log->warn("deliver dropped layerd={} group={} error=\"{}\"", peers_[p].endpoint, g->group, frame.error_text());
      return;
    }
    hub_.deliver_group(ws::make_shared_text(frame.value()), g->group);
  } else if (auto* a = std::get_if<proto::ack>(&m)) {
    if (auto it = pending_.find(a->request); it != pending_.end()) {
      auto cb = std::move(it->second.cb);
      pending_.erase(it);
      cb(true, "");
    }
  } else if (auto* w = std::get_if<proto::welcome>(&m)) {
    if (w->major != common::limits::proto_major) {
      log->error("layerd refused layerd={} reason=\"protocol {}.{}, gateway speaks {}.{}\"", peers_[p].endpoint,
                 w->major, w->minor, common::limits::proto_major, common::limits::proto_minor);
      peers_[p].version_refused = true;
      return;
    }
    if (!peers_[p].up) {
      log->info("layerd up layerd={} id={}", peers_[p].endpoint, w->layerd_id);
      set_up(p, true, "welcome");
    }
  } else if (std::holds_alternative<proto::heartbeat>(m)) {
    // last_heard already updated
  } else if (auto* e = std::get_if<proto::error>(&m)) {
    if (e->request) {
      if (auto it = pending_.find(e->request); it != pending_.end()) {
        auto cb = std::move(it->second.cb);
        pending_.erase(it);
        cb(false, e->code);
      }
    }
    if (e->code == "unknown_gateway") {
      // layerd restarted or expired us: introduce ourselves again, then SYNC.
      if (peers_[p].up) set_up(p, false, "layerd does not know this gateway");
      peers_[p].next_hello = clock::now();
      peers_[p].hello_backoff = std::chrono::milliseconds(100);
    } else if (e->code == "version") {
      peers_[p].version_refused = true;
      log->error("layerd refused layerd={} reason=\"{}\"", peers_[p].endpoint, e->text);
    } else {
      log->warn("layerd error layerd={} code={} text=\"{}\"", peers_[p].endpoint, e->code, e->text);
    }
  } else {
    stats_.malformed_in.fetch_add(1);
    log->warn("unexpected message layerd={} kind={}", peers_[p].endpoint, proto::kind_name(kind));
  }
}

void layer_link::set_up(std::size_t p, bool up, const char* why) {
  if (peers_[p].up == up) return;
  peers_[p].up = up;
  peers_[p].warned = false;
  alive_[p] = up;
  links_up_.store(static_cast<std::size_t>(std::count(alive_.begin(), alive_.end(), true)));
  if (!up) {
    common::log("link")->warn("layerd down layerd={} reason=\"{}\" links_up={}", peers_[p].endpoint, why,
                              links_up_.load());
    peers_[p].next_hello = clock::now();
    peers_[p].hello_backoff = std::chrono::milliseconds(100);
    peers_[p].down_since = clock::now();
    peers_[p].warned = true;  // the line above already said so
    fail_pending(p, "layerd down");
  }
  sync_all();
}

void layer_link::fail_pending(std::size_t p, const std::string& why) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (p >= peers_.size() || it->second.peer == p) {
      auto cb = std::move(it->second.cb);
      it = pending_.erase(it);
      cb(false, why);
    } else {
      ++it;
    }
  }
}

void layer_link::sync_all() {
  std::vector<proto::sync> per_peer(peers_.size());
  for (const auto& [group, channels] : members_) {
    auto p = owner(group);
    if (!p) continue;
    per_peer[*p].groups.emplace_back(group, std::vector<std::string>(channels.begin(), channels.end()));
  }
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].up) send_to(i, per_peer[i]);
  }
}

void layer_link::tick(clock::time_point now) {
  const auto timeout = std::chrono::milliseconds(cfg_.layerd_timeout_ms);
  const bool beat = now >= next_heartbeat_;
  if (beat) next_heartbeat_ = now + std::chrono::milliseconds(cfg_.heartbeat_ms);
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    auto& pr = peers_[i];
    if (pr.up) {
      if (now - pr.last_heard > timeout) {
        set_up(i, false, "no reply within layerd timeout");
      } else if (beat) {
        send_to(i, proto::heartbeat{});
      }
    }
    if (!pr.up && !pr.warned && now - pr.down_since > timeout) {
      pr.warned = true;
      common::log("link")->warn("layerd unreachable layerd={} reason=\"no reply to HELLO\" retrying=true",
                                pr.endpoint);
    }
    if (!pr.up && now >= pr.next_hello) {
      send_to(i, proto::hello{common::limits::proto_major, common::limits::proto_minor, gateway_id_});
      pr.next_hello = now + (pr.version_refused ? std::chrono::milliseconds(30000) : pr.hello_backoff);
      pr.hello_backoff = std::min(pr.hello_backoff * 2, std::chrono::milliseconds(2000));
    }
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= it->second.deadline) {
      auto cb = std::move(it->second.cb);
      it = pending_.erase(it);
      cb(false, "timeout");
    } else {
      ++it;
    }
  }
}

}  // namespace sb::gateway
