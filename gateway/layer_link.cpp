// layer_link.cpp — see layer_link.hpp.
#include "gateway/layer_link.hpp"

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>

#include "common/curve_keys.hpp"
#include "common/limits.hpp"
#include "common/log_limiter.hpp"
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
// While a layerd does not answer, its link is re-created after one layerd
// timeout, then at doubling intervals up to this (docs/protocol.md).
constexpr auto max_reopen_backoff = std::chrono::milliseconds(10000);
constexpr std::size_t max_resends_per_tick = 20000;  // then the thread's sockets have a turn; the rest wait in order
constexpr auto dedup_sweep_every = std::chrono::seconds(1);

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
    : cfg_(cfg),
      gateway_id_(std::move(gateway_id)),
      hub_(h),
      ioc_(h.context(0)),
      ring_(cfg.layerds),
      curve_(curve_keys(cfg)),
      journal_(cfg.layerds.size()),
      dedup_(common::limits::dedup_max_keys, std::chrono::seconds(common::limits::dedup_idle_s)) {
  const auto now = clock::now();
  for (const auto& ep : cfg_.layerds) {
    peer p;
    p.endpoint = ep;
    p.sock = make_socket(ep);
    p.down_since = now;
    p.reopen_backoff = std::chrono::milliseconds(cfg_.layerd_timeout_ms);
    p.reopen_at = now + p.reopen_backoff;
    peers_.push_back(std::move(p));
  }
  alive_.assign(peers_.size(), false);
}

std::unique_ptr<zmq::socket_t> layer_link::make_socket(const std::string& endpoint) {
  auto sock = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  if (curve_) common::use_curve_client(*sock, *curve_);
  sock->set(zmq::sockopt::routing_id, gateway_id_);
  sock->set(zmq::sockopt::immediate, 1);  // never queue for a layerd we are not connected to
  sock->set(zmq::sockopt::linger, 200);
  sock->set(zmq::sockopt::sndhwm, 100000);
  sock->set(zmq::sockopt::rcvhwm, 100000);
  sock->set(zmq::sockopt::reconnect_ivl, 100);
  sock->set(zmq::sockopt::reconnect_ivl_max, 2000);
  sock->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(common::limits::max_proto_body));
  try {
    sock->connect(endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("bad --layerd endpoint " + endpoint + ": " + e.what());
  }
  return sock;
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
    attach_monitor(i);
    watch_socket(i);
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
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    unwatch_socket(i);
    detach_monitor(i);
  }
  common::log("link")->info("layer link stopped gateway={}", gateway_id_);
}

void layer_link::watch_socket(std::size_t p) {
  const int fd = peers_[p].sock->get(zmq::sockopt::fd);
  peers_[p].watch = std::make_unique<asio::posix::stream_descriptor>(ioc_, fd);
  arm_watch(p);
  if (peers_[p].monitor) {
    const int mfd = peers_[p].monitor->get(zmq::sockopt::fd);
    peers_[p].monitor_watch = std::make_unique<asio::posix::stream_descriptor>(ioc_, mfd);
    arm_monitor(p);
    read_monitor(p);
  }
}

void layer_link::attach_monitor(std::size_t p) {
  auto& pr = peers_[p];
  const std::string addr = "inproc://sb-link-monitor-" + std::to_string(p) + "-" + std::to_string(pr.generation);
  if (zmq_socket_monitor(pr.sock->handle(), addr.c_str(), ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
    // Without it a dead layerd is still noticed, at --layerd-timeout-ms.
    common::log("link")->warn("socket monitor unavailable layerd={} error=\"{}\"", pr.endpoint, zmq_strerror(zmq_errno()));
    return;
  }
  pr.monitor = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
  pr.monitor->set(zmq::sockopt::linger, 0);
  pr.monitor->connect(addr);
}

void layer_link::detach_monitor(std::size_t p) {
  auto& pr = peers_[p];
  if (!pr.monitor) return;
  zmq_socket_monitor(pr.sock->handle(), nullptr, 0);
  pr.monitor->close();
  pr.monitor.reset();
}

void layer_link::arm_monitor(std::size_t p) {
  const auto gen = peers_[p].generation;
  peers_[p].monitor_watch->async_wait(asio::posix::stream_descriptor::wait_read,
                                      [this, p, gen](boost::system::error_code ec) {
                                        if (ec || stopped_.load(std::memory_order_relaxed)) return;
                                        if (peers_[p].generation != gen || !peers_[p].monitor) return;
                                        read_monitor(p);
                                        arm_monitor(p);
                                      });
}

void layer_link::read_monitor(std::size_t p) {
  auto& pr = peers_[p];
  // Events are few (one per connect or disconnect); read them all.
  for (int n = 0; n < 10000 && pr.monitor; ++n) {
    if (!(pr.monitor->get(zmq::sockopt::events) & ZMQ_POLLIN)) return;
    auto parts = proto::recv_frames(*pr.monitor, 2);
    if (parts.empty()) return;
    if (parts[0].size() < 6) continue;
    std::uint16_t event = 0;
    std::memcpy(&event, parts[0].data(), sizeof event);
    if (event == ZMQ_EVENT_DISCONNECTED) {
      // A layerd killed or restarted closes its connections at once; give
      // ZeroMQ a moment to reconnect before calling it down (tick), so a
      // blip is not a failover.
      if (pr.up && pr.lost_at == clock::time_point::max()) pr.lost_at = clock::now();
      common::log("link")->debug("layerd connection lost layerd={}", pr.endpoint);
    } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      pr.lost_at = clock::time_point::max();
    }
  }
}

void layer_link::unwatch_socket(std::size_t p) {
  auto& pr = peers_[p];
  if (!pr.watch) return;
  pr.watch->cancel();
  pr.watch->release();  // the fd is ZeroMQ's: closing it here would break the socket
  pr.watch.reset();
  if (pr.monitor_watch) {
    pr.monitor_watch->cancel();
    pr.monitor_watch->release();
    pr.monitor_watch.reset();
  }
}

void layer_link::reopen(std::size_t p, const char* why) {
  auto& pr = peers_[p];
  std::unique_ptr<zmq::socket_t> fresh;
  try {
    fresh = make_socket(pr.endpoint);
  } catch (const std::exception& e) {  // out of descriptors: keep the old one, try again later
    common::log("link")->error("re-creating layerd link failed layerd={} error=\"{}\"", pr.endpoint, e.what());
    return;
  }
  // The watch goes first (released, never closed), then the socket; a
  // handler of the old watch that is already queued sees the generation
  // change and stops (arm_watch).
  unwatch_socket(p);
  detach_monitor(p);
  // What it still queues was for a layerd we gave up on; the sends among
  // it are parked in the journal and go out again (set_up).
  pr.sock->set(zmq::sockopt::linger, 0);
  pr.sock->close();
  pr.sock = std::move(fresh);
  ++pr.generation;
  pr.lost_at = clock::time_point::max();
  attach_monitor(p);
  if (started_) watch_socket(p);
  const auto n = stats_.links_reopened.fetch_add(1) + 1;
  common::log("link")->info("layerd link re-created layerd={} reason=\"{}\" links_reopened_total={}", pr.endpoint,
                            why, n);
  pr.next_hello = clock::now();
  pr.hello_backoff = std::chrono::milliseconds(100);
}

void layer_link::arm_watch(std::size_t p) {
  const auto gen = peers_[p].generation;
  peers_[p].watch->async_wait(asio::posix::stream_descriptor::wait_read,
                              [this, p, gen](boost::system::error_code ec) {
                                if (ec || stopped_.load(std::memory_order_relaxed)) return;
                                if (peers_[p].generation != gen) return;  // the socket it watched is gone
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
  // One reader per peer at a time: a second chain of continuations would
  // read another batch before the sockets' flush, and under a steady
  // backlog the chains would add up (each trigger starting one more) until
  // a pass queued thousands of messages on every member at once and filled
  // their send queues while the kernel had room (docs/architecture.md,
  // "Overload").
  if (peers_[p].more_posted) return;
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
  peers_[p].more_posted = true;
  asio::post(ioc_, [this, p] {
    peers_[p].more_posted = false;
    if (!stopped_.load(std::memory_order_relaxed)) read_peer(p);
  });
}

void layer_link::group_add(std::string group, std::string channel, join_callback cb) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel), cb = std::move(cb)]() mutable {
    do_add(std::move(group), std::move(channel), {}, std::move(cb));
  });
}
void layer_link::group_add_as(std::string group, std::string channel, proto::presence_user user, join_callback cb) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel), user = std::move(user),
                  cb = std::move(cb)]() mutable {
    do_add(std::move(group), std::move(channel), {std::move(user), std::nullopt}, std::move(cb));
  });
}
void layer_link::group_add_worker(std::string group, std::string channel, proto::worker_route worker) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel), worker = std::move(worker)]() mutable {
    do_add(std::move(group), std::move(channel), {std::nullopt, std::move(worker)}, [](bool, const std::string&) {});
  });
}
void layer_link::presence(std::string group, presence_callback done) {
  if (stopped_.load(std::memory_order_acquire)) return done(nullptr, "gateway stopping");
  on_link_thread([this, group = std::move(group), done = std::move(done)]() mutable { do_presence(group, std::move(done)); });
}
void layer_link::group_discard(std::string group, std::string channel) {
  on_link_thread([this, group = std::move(group), channel = std::move(channel)] { do_discard(group, channel); });
}
bool layer_link::group_send(std::string group, std::string event) {
  // Reserved here, on the caller's thread, so the bound holds however many
  // threads send at once; released when layerd acknowledges the send.
  const std::size_t cost = group.size() + event.size();
  const auto n = unacked_msgs_.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto bytes = unacked_bytes_.fetch_add(cost, std::memory_order_relaxed) + cost;
  if (n > cfg_.unacked_max_messages || bytes > cfg_.unacked_max_bytes) {
    release(cost, 1);
    const auto refused = stats_.sends_refused.fetch_add(1, std::memory_order_relaxed) + 1;
    static common::log_limiter limit;
    common::warn_limited(limit, "link",
                         "group_send refused group={} reason=\"too many group_sends not acknowledged by layerd\" "
                         "unacked={} unacked_bytes={} refused_total={}",
                         group, n - 1, bytes - cost, refused);
    return false;
  }
  on_link_thread([this, group = std::move(group), event = std::move(event)]() mutable {
    do_send(std::move(group), std::move(event));
  });
  return true;
}

void layer_link::history(std::string group, std::uint32_t count, std::string since, history_callback done) {
  if (stopped_.load(std::memory_order_acquire)) return;
  on_link_thread([this, group = std::move(group), count, since = std::move(since), done = std::move(done)]() mutable {
    auto p = owner(group);
    const std::uint64_t req = next_request_++;
    if (!p || !send_to(*p, proto::history_get{req, group, count, since})) {
      stats_.history_failed.fetch_add(1, std::memory_order_relaxed);
      return done(history_answer{});
    }
    stats_.history_requests.fetch_add(1, std::memory_order_relaxed);
    histories_.emplace(req, pending_history{std::move(done),
                                            clock::now() + std::chrono::milliseconds(cfg_.history_timeout_ms), *p});
  });
}

bool layer_link::answer_history(std::uint64_t request, history_answer answer) {
  auto it = histories_.find(request);
  if (it == histories_.end()) return false;
  auto done = std::move(it->second.done);
  histories_.erase(it);
  if (!answer.answered) stats_.history_failed.fetch_add(1, std::memory_order_relaxed);
  done(std::move(answer));
  return true;
}

void layer_link::send(std::string channel, std::string event, std::string route_key, send_callback done,
                      std::uint32_t flags) {
  if (stopped_.load(std::memory_order_acquire)) return;
  on_link_thread([this, channel = std::move(channel), event = std::move(event), route_key = std::move(route_key),
                  done = std::move(done), flags]() mutable {
    do_send_to_channel(std::move(channel), std::move(event), route_key, std::move(done), flags);
  });
}

void layer_link::do_send_to_channel(std::string channel, std::string event, const std::string& route_key,
                                    send_callback done, std::uint32_t flags) {
  auto fail = [&](const char* why) {
    stats_.channel_sends_failed.fetch_add(1, std::memory_order_relaxed);
    done(why);
  };
  const auto p = owner(route_key);
  if (!p) return fail("no layerd available");
  // Bounded: a layerd that never answers cannot make this grow without end.
  if (sends_.size() >= max_sends_outstanding) return fail("too many sends outstanding");
  if (!peers_[*p].send_requests) {  // a layerd before 1.3 answers nothing: handed over is done
    if (!send_to(*p, proto::send{std::move(channel), std::move(event)})) return fail("layerd queue full");
    stats_.channel_sends.fetch_add(1, std::memory_order_relaxed);
    return done("");
  }
  const std::uint64_t req = next_request_++;
  if (!peers_[*p].send_flags) flags = 0;
  if (!send_to(*p, proto::send{std::move(channel), std::move(event), req, flags})) return fail("layerd queue full");
  stats_.channel_sends.fetch_add(1, std::memory_order_relaxed);
  sends_.emplace(req, pending_send{std::move(done), *p});
  send_deadlines_.emplace_back(clock::now() + std::chrono::milliseconds(cfg_.send_timeout_ms), req);
}

void layer_link::expire_sends(clock::time_point now) {
  // A layerd that stays up (it answers heartbeats) but never answers a SEND
  // (a Redis write that never returns, a bug) would otherwise hold the
  // sender forever: a connect waits out --connect-timeout-ms, but a worker
  // process' outbox waits for this answer before it sends anything more
  // (docs/protocol.md, Part 3, Liveness).
  std::vector<send_callback> overdue;
  while (!send_deadlines_.empty()) {
    const auto [deadline, req] = send_deadlines_.front();
    auto it = sends_.find(req);
    if (it != sends_.end() && now < deadline) break;
    send_deadlines_.pop_front();
    if (it == sends_.end()) continue;  // answered (or failed) already
    overdue.push_back(std::move(it->second.done));
    sends_.erase(it);
  }
  if (overdue.empty()) return;
  stats_.channel_sends_failed.fetch_add(overdue.size(), std::memory_order_relaxed);
  const auto total = stats_.channel_sends_timed_out.fetch_add(overdue.size(), std::memory_order_relaxed) + overdue.size();
  static common::log_limiter limit;  // every SEND of a stuck layerd would log
  common::warn_limited(limit, "link", "sends to workers failed reason=\"no answer from layerd\" count={} timeout_ms={} timed_out_total={}",
                       overdue.size(), cfg_.send_timeout_ms, total);
  for (auto& done : overdue) done("no answer from layerd");
}

bool layer_link::answer_send(std::uint64_t request, const std::string& error) {
  auto it = sends_.find(request);
  if (it == sends_.end()) return false;
  auto done = std::move(it->second.done);
  sends_.erase(it);
  if (!error.empty()) stats_.channel_sends_failed.fetch_add(1, std::memory_order_relaxed);
  done(error);
  return true;
}

void layer_link::release(std::size_t bytes, std::size_t n) {
  unacked_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  unacked_msgs_.fetch_sub(n, std::memory_order_relaxed);
}

std::optional<std::size_t> layer_link::owner(const std::string& group) const { return ring_.owner(group, alive_); }

void layer_link::batch_done(std::size_t p, std::uint64_t serial) {
  // Everything applying the DELIVER sent is on this link already, in order
  // (the door runs on this thread, and the link sends inline), unless a
  // group_send is parked in the journal: then none is sent, and layerd
  // applies nothing more of this gateway's until a later one (they are
  // cumulative), so a parked send is never overtaken.
  if (journal_.parked_count() != 0) return;
  auto waiting = waiting_ ? waiting_() : std::optional<std::vector<std::string>>(std::vector<std::string>{});
  if (!waiting) return;
  if (send_to(p, proto::batch_done{serial, std::move(*waiting)})) {
    stats_.batch_dones.fetch_add(1, std::memory_order_relaxed);
  }
}

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

void layer_link::do_add(std::string group, std::string channel, member_info info, join_callback cb) {
  members_[group][channel] = info;
  auto p = owner(group);
  if (!p) {
    cb(false, "no layerd available");
    return;
  }
  const std::uint64_t req = next_request_++;
  if (!peers_[*p].workers) info.worker.reset();
  if (!send_to(*p, proto::group_add{req, group, channel, std::move(info.user), std::move(info.worker)})) {
    cb(false, "layerd queue full");
    return;
  }
  pending_.emplace(req, pending_join{std::move(cb), clock::now() + std::chrono::milliseconds(cfg_.join_timeout_ms), *p});
}

void layer_link::do_presence(const std::string& group, presence_callback done) {
  const auto p = owner(group);
  if (!p) return done(nullptr, "no layerd available");
  if (pending_.size() >= max_sends_outstanding) return done(nullptr, "too many requests outstanding");
  const std::uint64_t req = next_request_++;
  if (!send_to(*p, proto::presence_get{req, group})) return done(nullptr, "layerd queue full");
  // Failures (timeout, link lost, ERROR) come through cb; the answer through on_state.
  pending_.emplace(req, pending_join{[done](bool, const std::string& why) { done(nullptr, why); },
                                     clock::now() + std::chrono::milliseconds(cfg_.join_timeout_ms), *p, done});
}

void layer_link::do_discard(const std::string& group, const std::string& channel) {
  if (auto it = members_.find(group); it != members_.end()) {
    it->second.erase(channel);
    if (it->second.empty()) members_.erase(it);
  }
  if (auto p = owner(group)) send_to(*p, proto::group_discard{group, channel});
}

void layer_link::do_send(std::string group, std::string event) {
  send_journal::entry e{next_id_++, 0, std::move(group), std::move(event)};
  // Behind an older send of its group that still waits (a failover's
  // grace, a refused send), and during the grace if its group moved: per
  // group, in order. Other groups go at once.
  const bool moved = clock::now() < release_at_ && ring_.owner(e.group, grace_alive_) != owner(e.group);
  if (moved || journal_.holds(e.group) || !dispatch(e)) journal_.park(std::move(e));
}

bool layer_link::dispatch(send_journal::entry& e) {
  auto p = owner(e.group);
  if (!p) {
    drop_send(e.group, e.cost(), "no layerd available");
    return true;
  }
  if (!peers_[*p].acks) {  // a 1.1 layerd acknowledges nothing: sent is done
    if (!send_to(*p, proto::group_send{e.group, e.event})) return false;
    stats_.group_sends.fetch_add(1, std::memory_order_relaxed);
    release(e.cost(), 1);
    return true;
  }
  const auto seq = journal_.take_seq(*p);
  if (!send_to(*p, proto::group_send{e.group, e.event, seq, e.id})) return false;
  stats_.group_sends.fetch_add(1, std::memory_order_relaxed);
  e.seq = seq;
  journal_.sent(*p, std::move(e));
  return true;
}

void layer_link::drop_send(const std::string& group, std::size_t bytes, const char* why) {
  release(bytes, 1);
  if (stats_.dropped_no_layerd.fetch_add(1) % 1000 == 0) {
    common::log("link")->warn("group_send dropped group={} reason=\"{}\" dropped_total={}", group, why,
                              stats_.dropped_no_layerd.load());
  }
}

void layer_link::flush_parked(clock::time_point now) {
  if (!journal_.has_parked() || now < release_at_) return;
  std::size_t sent = 0, resent = 0;
  while (journal_.has_parked() && sent < max_resends_per_tick) {
    auto& e = journal_.front();
    const bool again = e.seq != 0;  // it went out once, to a layerd that never acknowledged it
    if (!dispatch(e)) break;         // ZeroMQ still refuses: try again next tick, nothing overtakes it
    journal_.pop_front();
    ++sent;
    if (again) ++resent;
  }
  if (resent) stats_.sends_resent.fetch_add(resent, std::memory_order_relaxed);
  // info once per failover (something was re-sent); a retry after ZeroMQ
  // refused a send is routine, and could repeat every tick
  if (resent) {
    common::log("link")->info("group_sends re-sent to the new owners resent={} sent={} still_waiting={}", resent, sent,
                              journal_.parked_count());
  } else if (sent) {
    common::log("link")->debug("group_sends released sent={} still_waiting={}", sent, journal_.parked_count());
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
    // Targets that take events (Django routes' sockets, whose conn ids say
    // so) and the control channel get the event, the others one frame.
    const bool mixed = std::any_of(d->targets.begin(), d->targets.end(), [this](const std::string& t) {
      std::uint64_t conn = 0;
      return t == control_conn || (hub_.parse_conn(t, conn) && hub::takes_events(conn));
    });
    if (mixed) {
      std::vector<std::string> plain;
      std::vector<std::uint64_t> events;
      for (auto& t : d->targets) {
        std::uint64_t conn = 0;
        if (t == control_conn) {
          if (control_) control_(d->event, d->applied);
          if (d->serial != 0) batch_done(p, d->serial);
        } else if (hub_.parse_conn(t, conn) && hub::takes_events(conn)) {
          events.push_back(conn);
        } else {
          plain.push_back(std::move(t));
        }
      }
      if (!events.empty()) {
        auto event = std::make_shared<const std::string>(d->event);
        if (socket_message_) {
          for (auto conn : events) socket_message_(conn, event);
        } else {
          hub_.deliver_events(event, events);
        }
      }
      d->targets = std::move(plain);
      if (d->targets.empty()) return;
    }
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
    if (!g->origin.empty() && g->id != 0 && !dedup_.admit(g->origin, g->group, g->id, clock::now())) {
      // Re-sent after a failover and already delivered here (docs/protocol.md).
      stats_.duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
      log->trace("duplicate dropped group={} origin={} id={}", g->group, g->origin, g->id);
      return;
    }
    auto frame = consumer::render(g->event);
    if (!frame) {
      stats_.malformed_in.fetch_add(1);
      log->warn("deliver dropped layerd={} group={} error=\"{}\"", peers_[p].endpoint, g->group, frame.error_text());
      return;
    }
    // Members that take events (Django routes) render or forward the event
    // themselves, but for those whose worker layerd gave it already (1.5).
    std::shared_ptr<const std::vector<std::uint64_t>> by_layerd;
    if (!g->forwarded.empty()) {
      std::vector<std::uint64_t> conns;
      conns.reserve(g->forwarded.size());
      for (const auto& id : g->forwarded) {
        std::uint64_t c = 0;
        if (hub_.parse_conn(id, c)) conns.push_back(c);
      }
      std::sort(conns.begin(), conns.end());
      by_layerd = std::make_shared<const std::vector<std::uint64_t>>(std::move(conns));
    }
    hub_.deliver_group(frame.value(), g->group,
                       hub_.events_sessions() ? std::make_shared<const std::string>(std::move(g->event)) : nullptr,
                       by_layerd);
  } else if (auto* h = std::get_if<proto::history>(&m)) {
    answer_history(h->request, history_answer{true, h->complete, std::move(h->events)});
  } else if (auto* sa = std::get_if<proto::send_ack>(&m)) {
    const auto [bytes, n] = journal_.acked(p, sa->seq);
    release(bytes, n);
  } else if (auto* st = std::get_if<proto::presence_state>(&m)) {
    if (auto it = pending_.find(st->request); it != pending_.end() && it->second.on_state) {
      auto done = std::move(it->second.on_state);
      pending_.erase(it);
      done(st, "");
    }
  } else if (auto* a = std::get_if<proto::ack>(&m)) {
    if (answer_send(a->request, "")) return;
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
      peers_[p].acks = w->minor >= 2;
      peers_[p].send_requests = w->minor >= 3;
      peers_[p].send_flags = w->minor >= 4;
      peers_[p].workers = w->minor >= 5;
      log->info("layerd up layerd={} id={}", peers_[p].endpoint, w->layerd_id);
      set_up(p, true, "welcome");
    }
  } else if (std::holds_alternative<proto::heartbeat>(m)) {
    // last_heard already updated
  } else if (auto* e = std::get_if<proto::error>(&m)) {
    // A SEND's refusal is its sender's to report (counted and logged there).
    if (e->request && answer_send(e->request, e->code)) return;
    if (e->request && answer_history(e->request, history_answer{})) {
      log->warn("history refused layerd={} code={} text=\"{}\"", peers_[p].endpoint, e->code, e->text);
      return;
    }
    if (e->request) {
      if (auto it = pending_.find(e->request); it != pending_.end()) {
        auto cb = std::move(it->second.cb);
        pending_.erase(it);
        cb(false, e->code);
      }
    }
    if (e->code == "unknown_gateway") {
      // layerd restarted or expired us: introduce ourselves again, then SYNC.
      if (peers_[p].up) {
        set_up(p, false, "layerd does not know this gateway", std::chrono::milliseconds(common::limits::failover_grace_ms));
      }
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

void layer_link::set_up(std::size_t p, bool up, const char* why, std::chrono::milliseconds grace) {
  if (peers_[p].up == up) return;
  const std::vector<bool> before = alive_;
  peers_[p].up = up;
  peers_[p].warned = false;
  alive_[p] = up;
  links_up_.store(static_cast<std::size_t>(std::count(alive_.begin(), alive_.end(), true)));
  const auto now = clock::now();
  if (!up) {
    common::log("link")->warn("layerd down layerd={} reason=\"{}\" links_up={}", peers_[p].endpoint, why,
                              links_up_.load());
    peers_[p].next_hello = now;
    peers_[p].hello_backoff = std::chrono::milliseconds(100);
    peers_[p].down_since = now;
    peers_[p].warned = true;  // the line above already said so
    fail_pending(p, "layerd down");
  }
  // While down, the link is re-created every reopen_backoff until a
  // WELCOME comes (tick); the first wait is one layerd timeout.
  peers_[p].reopen_backoff = std::chrono::milliseconds(cfg_.layerd_timeout_ms);
  peers_[p].reopen_at = up ? clock::time_point::max() : now + peers_[p].reopen_backoff;
  peers_[p].lost_at = clock::time_point::max();
  sync_all(before);
  if (!up) {
    // What it had not acknowledged goes to the new owners, in order, after
    // the grace; so do newer sends (docs/protocol.md, "Acknowledged group_sends").
    const auto kept = journal_.park_link(p);
    // The ring as it was before this failover (or before the first of
    // several in one grace): the groups whose owner changed since wait.
    if (now >= release_at_) grace_alive_ = before;
    release_at_ = std::max(release_at_, now + grace);
    if (kept) {
      common::log("link")->info("group_sends kept for the new owners layerd={} count={} grace_ms={}",
                                peers_[p].endpoint, kept, grace.count());
    }
  }
}

void layer_link::fail_pending(std::size_t p, const std::string& why) {
  // SENDs waiting on that layerd will never hear: "layerd lost" (or why, when the gateway stops).
  std::vector<send_callback> lost;
  for (auto it = sends_.begin(); it != sends_.end();) {
    if (p >= peers_.size() || it->second.peer == p) {
      lost.push_back(std::move(it->second.done));
      it = sends_.erase(it);
    } else {
      ++it;
    }
  }
  const std::string send_why = p >= peers_.size() ? why : std::string("layerd lost");
  stats_.channel_sends_failed.fetch_add(lost.size(), std::memory_order_relaxed);
  for (auto& done : lost) done(send_why);
  std::vector<std::uint64_t> replays;
  for (const auto& [req, h] : histories_) {
    if (p >= peers_.size() || h.peer == p) replays.push_back(req);
  }
  for (auto req : replays) answer_history(req, history_answer{});
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

void layer_link::sync_all(const std::vector<bool>& alive_before) {
  std::vector<proto::sync> per_peer(peers_.size());
  for (const auto& [group, channels] : members_) {
    auto p = owner(group);
    // A live layerd that owned the group before this change hears that it
    // moved, so it forgets these members without removing them from Redis,
    // where the new owner is writing them (docs/protocol.md, SYNC).
    if (auto was = ring_.owner(group, alive_before); was && was != p) per_peer[*was].moved.push_back(group);
    if (!p) continue;
    auto& sync = per_peer[*p];
    std::vector<std::string> names;
    std::vector<std::optional<proto::presence_user>> users;
    std::vector<std::optional<proto::worker_route>> workers;
    names.reserve(channels.size());
    users.reserve(channels.size());
    bool any_user = false;
    bool any_worker = false;
    for (const auto& [channel, info] : channels) {
      names.push_back(channel);
      users.push_back(info.user);
      workers.push_back(peers_[*p].workers ? info.worker : std::nullopt);
      any_user = any_user || info.user.has_value();
      any_worker = any_worker || workers.back().has_value();
    }
    // Users ride along (1.4) so a layerd that takes the group over rebuilds
    // its presence from this SYNC, silently (layerd/presence.hpp); workers
    // (1.5) so it writes the Django sockets' events to their workers.
    if (any_user) {
      sync.users.resize(sync.groups.size());
      sync.users.push_back(std::move(users));
    }
    if (any_worker) {
      sync.workers.resize(sync.groups.size());
      sync.workers.push_back(std::move(workers));
    }
    sync.groups.emplace_back(group, std::move(names));
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
    bool behind = false;
    if (pr.up && now - pr.last_heard > timeout) {
      // This thread may have been busy (a big fan-out) while the layerd's
      // messages waited in the socket: read them before calling it silent.
      // A batch still waiting for its turn means the same: we are behind,
      // the layerd is not silent.
      read_peer(i);
      behind = pr.more_posted;
    }
    if (pr.up) {
      if (pr.lost_at != clock::time_point::max() &&
          now - pr.lost_at >= std::chrono::milliseconds(common::limits::link_lost_grace_ms)) {
        set_up(i, false, "connection lost", std::chrono::milliseconds(common::limits::failover_grace_ms));
      } else if (now - pr.last_heard > timeout && !behind) {
        set_up(i, false, "no reply within layerd timeout",
               std::chrono::milliseconds(cfg_.heartbeat_ms + common::limits::failover_grace_ms));
        // Silence on a connection ZeroMQ still holds open: it would never
        // reconnect by itself, so start afresh at once.
        reopen(i, "no reply within layerd timeout");
      } else if (beat) {
        send_to(i, proto::heartbeat{});
      }
    }
    if (!pr.up && !pr.warned && now - pr.down_since > timeout) {
      pr.warned = true;
      common::log("link")->warn("layerd unreachable layerd={} reason=\"no reply to HELLO\" retrying=true",
                                pr.endpoint);
    }
    if (!pr.up && now >= pr.reopen_at) {
      reopen(i, "no WELCOME since the last attempt");
      pr.reopen_backoff = std::min(pr.reopen_backoff * 2, std::max(max_reopen_backoff, pr.reopen_backoff));
      pr.reopen_at = now + pr.reopen_backoff;
    }
    if (!pr.up && now >= pr.next_hello) {
      // sole: the only layerd this gateway has owns all its groups and alone
      // pops its inbox, so it may apply its workers' group_sends (1.6).
      proto::hello hello{common::limits::proto_major, common::limits::proto_minor, gateway_id_};
      hello.sole = peers_.size() == 1;
      send_to(i, hello);
      pr.next_hello = now + (pr.version_refused ? std::chrono::milliseconds(30000) : pr.hello_backoff);
      pr.hello_backoff = std::min(pr.hello_backoff * 2, std::chrono::milliseconds(2000));
    }
  }
  flush_parked(now);
  expire_sends(now);
  if (now >= next_expire_) {
    next_expire_ = now + dedup_sweep_every;
    dedup_.expire(now);
  }
  std::vector<std::uint64_t> overdue;
  for (const auto& [req, h] : histories_) {
    if (now >= h.deadline) overdue.push_back(req);
  }
  if (!overdue.empty()) {
    stats_.history_timed_out.fetch_add(overdue.size(), std::memory_order_relaxed);
    static common::log_limiter limit;
    common::warn_limited(limit, "link", "history replays given up reason=\"no answer from layerd\" count={} timeout_ms={}",
                         overdue.size(), cfg_.history_timeout_ms);
    for (auto req : overdue) answer_history(req, history_answer{});
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
