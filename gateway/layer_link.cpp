// layer_link.cpp — see layer_link.hpp.
#include "gateway/layer_link.hpp"

#include <future>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>

#include "common/curve_keys.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "gateway/consumer.hpp"
#include "gateway/hub.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::gateway {

namespace asio = boost::asio;

namespace {
constexpr auto tick_every = std::chrono::milliseconds(50);
constexpr int max_reads_per_handler = 256;  // then the pass's flush and the thread's sockets have a turn

// The CURVE keys of --curve-secret-file and --layerd-public-key-file, or
// nothing without them; throws at start-up when a file is bad.
std::optional<common::curve_client_keys> curve_keys(const gateway_config& cfg) {
  if (cfg.curve_secret_file.empty()) return std::nullopt;
  auto keys = common::load_curve_client_keys(cfg.curve_secret_file, cfg.layerd_public_key_file);
  if (!keys) throw std::runtime_error("CURVE keys: " + keys.error_text());
  return std::move(keys.value());
}
}  // namespace

layer_link::layer_link(const gateway_config& cfg, std::string gateway_id, hub& h)
    : cfg_(cfg), gateway_id_(std::move(gateway_id)), hub_(h), ioc_(h.context(0)), ring_(cfg.layerds) {
  const auto curve = curve_keys(cfg_);
  for (const auto& ep : cfg_.layerds) {
    peer p;
    p.endpoint = ep;
    p.sock = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    if (curve) common::use_curve_client(*p.sock, *curve);
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

layer_link::~layer_link() { stop(); }

template <class F>
void layer_link::on_link_thread(F&& f) {
  if (stopped_.load(std::memory_order_acquire)) return;
  if (ioc_.get_executor().running_in_this_thread()) {
    f();
  } else {
    asio::post(ioc_, [this, f = std::forward<F>(f)]() mutable {
      if (!stopped_.load(std::memory_order_relaxed)) f();
    });
  }
}

void layer_link::start() {
  asio::post(ioc_, [this] { begin(); });
}

void layer_link::begin() {
  if (started_ || stopped_.load()) return;
  started_ = true;
  common::log("link")->info("layer link started gateway={} layerds={}", gateway_id_, peers_.size());
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const int fd = peers_[i].sock->get(zmq::sockopt::fd);
    peers_[i].watch = std::make_unique<asio::posix::stream_descriptor>(ioc_, fd);
    arm_watch(i);
  }
  tick_timer_ = std::make_unique<asio::steady_timer>(ioc_);
  tick(clock::now());  // the first HELLOs go now
  arm_tick();
  for (std::size_t i = 0; i < peers_.size(); ++i) read_peer(i);  // anything already waiting
}

void layer_link::stop() {
  if (stopped_.load(std::memory_order_acquire)) return;
  if (hub_.running() && !ioc_.get_executor().running_in_this_thread()) {
    std::promise<void> done;
    asio::post(ioc_, [this, &done] {
      shutdown();
      done.set_value();
    });
    done.get_future().wait();
  } else {
    shutdown();  // on thread 0, or no I/O thread runs: nobody else is here
  }
}

void layer_link::shutdown() {
  if (stopped_.load()) return;
  stopped_.store(true, std::memory_order_release);
  // Leaving: an empty SYNC removes all our members at once, instead of
  // layerd waiting for our heartbeats to time out.
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].up) send_to(i, proto::sync{});
  }
  fail_pending(peers_.size(), "gateway stopping");
  if (tick_timer_) tick_timer_->cancel();
  tick_timer_.reset();
  for (auto& p : peers_) {
    if (!p.watch) continue;
    p.watch->cancel();
    p.watch->release();  // the fd is ZeroMQ's
    p.watch.reset();
  }
  common::log("link")->info("layer link stopped gateway={}", gateway_id_);
}

void layer_link::arm_watch(std::size_t p) {
  peers_[p].watch->async_wait(asio::posix::stream_descriptor::wait_read, [this, p](boost::system::error_code ec) {
    if (ec || stopped_.load(std::memory_order_relaxed)) return;
    read_peer(p);
    arm_watch(p);
  });
}

void layer_link::arm_tick() {
  tick_timer_->expires_after(tick_every);
  tick_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_.load(std::memory_order_relaxed)) return;
    tick(clock::now());
    arm_tick();
  });
}

void layer_link::recheck_after_send() {
  // A send may have taken the socket's pending signal: look again once this
  // handler is done (one check for a whole burst of sends).
  if (recheck_posted_) return;
  recheck_posted_ = true;
  asio::post(ioc_, [this] {
    recheck_posted_ = false;
    if (stopped_.load(std::memory_order_relaxed)) return;
    for (std::size_t i = 0; i < peers_.size(); ++i) read_peer(i);
  });
}

void layer_link::read_peer(std::size_t p) {
  auto log = common::log("link");
  auto& sock = *peers_[p].sock;
  for (int n = 0; n < max_reads_per_handler; ++n) {
    int events = 0;
    try {
      events = sock.get(zmq::sockopt::events);
    } catch (const zmq::error_t& e) {
      log->error("reading socket state failed layerd={} error=\"{}\"", peers_[p].endpoint, e.what());
      return;
    }
    if (!(events & ZMQ_POLLIN)) return;
    auto parts = proto::recv_frames(sock, 4);
    if (parts.empty()) return;
    if (parts.size() != 2 || parts[0].size() != 1) {
      stats_.malformed_in.fetch_add(1);
      log->warn("malformed message layerd={} frames={}", peers_[p].endpoint, parts.size());
      continue;
    }
    on_message(p, *static_cast<const std::uint8_t*>(parts[0].data()),
               std::string_view(static_cast<const char*>(parts[1].data()), parts[1].size()));
    if (stopped_.load(std::memory_order_relaxed)) return;
  }
  // More is waiting: come back after the thread's other work.
  asio::post(ioc_, [this, p] {
    if (!stopped_.load(std::memory_order_relaxed)) read_peer(p);
  });
}

void layer_link::group_add(std::string group, std::string channel, join_callback cb) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel), cb = std::move(cb)]() mutable {
    do_add(std::move(group), std::move(channel), std::move(cb));
  });
}
void layer_link::group_discard(std::string group, std::string channel) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel)] { do_discard(group, channel); });
}
void layer_link::group_send(std::string group, std::string event) {
  on_link_thread([this, group = std::move(group), event = std::move(event)]() mutable {
    do_send(group, std::move(event));
  });
}

std::optional<std::size_t> layer_link::owner(const std::string& group) const { return ring_.owner(group, alive_); }

bool layer_link::send_to(std::size_t p, const proto::message& m) {
  const auto k = static_cast<std::uint8_t>(proto::kind_of(m));
  const std::string body = proto::encode(m);
  if (!stopped_.load(std::memory_order_relaxed)) recheck_after_send();
  try {
    if (!peers_[p].sock->send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    // ZeroMQ takes a multipart message whole once its first frame is in,
    // so this never waits either.
    peers_[p].sock->send(zmq::buffer(body), zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t& e) {
    common::log("link")->warn("send failed layerd={} kind={} error=\"{}\"", peers_[p].endpoint,
                              proto::kind_name(k), e.what());
    return false;
  }
}

void layer_link::do_add(std::string group, std::string channel, join_callback cb) {
  members_[group].insert(channel);
  auto p = owner(group);
  if (!p) {
    cb(false, "no layerd available");
    return;
  }
  const std::uint64_t req = next_request_++;
  if (!send_to(*p, proto::group_add{req, group, channel})) {
    cb(false, "layerd queue full");
    return;
  }
  pending_.emplace(req, pending_join{std::move(cb), clock::now() + std::chrono::milliseconds(cfg_.join_timeout_ms), *p});
}

void layer_link::do_discard(const std::string& group, const std::string& channel) {
  if (auto it = members_.find(group); it != members_.end()) {
    it->second.erase(channel);
    if (it->second.empty()) members_.erase(it);
  }
  if (auto p = owner(group)) send_to(*p, proto::group_discard{group, channel});
}

void layer_link::do_send(const std::string& group, std::string event) {
  auto p = owner(group);
  if (!p || !send_to(*p, proto::group_send{group, std::move(event)})) {
    if (stats_.dropped_no_layerd.fetch_add(1) % 1000 == 0) {
      common::log("link")->warn("group_send dropped group={} reason=\"no layerd available\" dropped_total={}", group,
                                stats_.dropped_no_layerd.load());
    }
    return;
  }
  stats_.group_sends.fetch_add(1, std::memory_order_relaxed);
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
    auto frame = consumer::render(d->event);
    if (!frame) {
      stats_.malformed_in.fetch_add(1);
      log->warn("deliver dropped layerd={} error=\"{}\"", peers_[p].endpoint, frame.error_text());
      return;
    }
    // Framed once here; every target socket queues these same bytes.
    hub_.deliver(frame.value(), d->targets);
  } else if (auto* g = std::get_if<proto::group_deliver>(&m)) {
    stats_.delivers_in.fetch_add(1, std::memory_order_relaxed);
    auto frame = consumer::render(g->event);
    if (!frame) {
      stats_.malformed_in.fetch_add(1);
      log->warn("deliver dropped layerd={} group={} error=\"{}\"", peers_[p].endpoint, g->group, frame.error_text());
      return;
    }
    hub_.deliver_group(frame.value(), g->group);
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
