// zap_auth.cpp — see zap_auth.hpp.
#include "layerd/zap_auth.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/curve_keys.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::layerd {
namespace {

constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";  // fixed by ZAP (libzmq looks here)
constexpr const char* zap_domain = "switchboard";

// A short form of a key for logs: enough to find it in the allow-list.
std::string key_tag(std::string_view key) { return std::string(key.substr(0, 8)) + "..."; }

std::string frame_text(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

}  // namespace

const char* zap_auth::reason_name(reason r) {
  switch (r) {
    case handshake: return "handshake";
    case unknown_key: return "unknown_key";
    case routing_id: return "routing_id";
    case role: return "role";
    default: return "other";
  }
}

zap_auth::zap_auth(zmq::context_t& ctx, const std::string& secret_file, const std::string& allow_file)
    : ctx_(ctx), zap_(ctx, zmq::socket_type::rep) {
  if (!common::curve_available()) throw std::runtime_error(common::curve_missing_text);
  auto keys = common::read_secret_key_file(secret_file);
  if (!keys) throw std::runtime_error("--curve-secret-file: " + keys.error_text());
  secret_key_ = keys.value().secret_key;
  public_key_ = keys.value().public_key;
  auto list = allow_list::load(allow_file);
  if (!list) throw std::runtime_error("--curve-allow-file: " + list.error_text());
  allowed_ = std::move(list.value());
  zap_.set(zmq::sockopt::linger, 0);
  // Bound before the ROUTER binds: without a handler, libzmq would let
  // every CURVE client in.
  zap_.bind(zap_endpoint);
}

zap_auth::~zap_auth() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void zap_auth::secure(zmq::socket_t& router) {
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, secret_key_);
  router.set(zmq::sockopt::zap_domain, zap_domain);
  // ZAP cannot see the routing id a peer claims (see zap_auth.hpp), so a
  // claim on a connected id must not win: no handover.
  router.set(zmq::sockopt::router_handover, 0);
  monitor_endpoint_ = "inproc://switchboard.layerd.monitor." + std::to_string(reinterpret_cast<std::uintptr_t>(this));
  if (zmq_socket_monitor(router.handle(), monitor_endpoint_.c_str(),
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
    throw std::runtime_error(std::string("cannot monitor layerd's socket: ") + zmq_strerror(zmq_errno()));
  }
  monitor_.emplace(ctx_, zmq::socket_type::pair);
  monitor_->set(zmq::sockopt::linger, 0);
  monitor_->connect(monitor_endpoint_);
  common::log("auth")->info("curve on public_key={} allowed_keys={}", public_key_, allowed_.size());
  thread_ = std::thread([this] { run(); });
}

void zap_auth::run() {
  // Polls with a short timeout so the destructor's stop flag is seen soon;
  // a socket's work is never waited for.
  while (!stop_.load()) {
    std::array<zmq::pollitem_t, 2> items{{{zap_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_->handle(), 0, ZMQ_POLLIN, 0}}};
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(200));
      if (items[0].revents & ZMQ_POLLIN) on_zap_request();
      if (items[1].revents & ZMQ_POLLIN) on_monitor_event();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) return;
      common::log("auth")->error("zap handler error error=\"{}\"", e.what());
    }
  }
  zap_.close();
  monitor_->close();
}

void zap_auth::on_zap_request() {
  // RFC 27 (ZAP 1.0): version, request id, domain, address, identity,
  // mechanism, credentials... Frames beyond the seventh are read and dropped.
  auto req = proto::recv_frames(zap_, 8);
  if (req.empty()) return;
  std::string version = req.size() > 0 ? frame_text(req[0]) : "";
  std::string request_id = req.size() > 1 ? frame_text(req[1]) : "";
  auto reply = [&](const char* status, const std::string& text, const std::string& user_id) {
    zap_.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
    zap_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap_.send(zmq::buffer(std::string_view(status)), zmq::send_flags::sndmore);
    zap_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    zap_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
    zap_.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::none);  // no metadata
  };
  const std::string address = req.size() > 3 ? frame_text(req[3]) : "";
  if (req.size() < 7 || version != "1.0" || frame_text(req[5]) != "CURVE" || req[6].size() != 32) {
    count(handshake);
    static common::log_limiter limit;
    common::warn_limited(limit, "auth", "peer refused address={} reason=\"not a CURVE handshake\"", address);
    return reply("400", "CURVE required", "");
  }
  const std::string key = common::z85_of_raw_key(std::string_view(static_cast<const char*>(req[6].data()), 32));
  const allowed_peer* entry = allowed_.find(key);
  if (!entry) {
    count(unknown_key);
    static common::log_limiter limit;
    common::warn_limited(limit, "auth", "peer refused address={} key={} reason=\"key not on the allow-list\"", address,
                         key);
    return reply("400", "key not allowed", "");
  }
  common::log("auth")->debug("peer allowed address={} key={} as=\"{}\"", address, key_tag(key), entry->describe());
  // The User-Id every message of this connection carries: the key itself,
  // looked up again by check() on the loop thread.
  reply("200", "OK", key);
}

void zap_auth::on_monitor_event() {
  auto ev = proto::recv_frames(*monitor_, 3);
  if (ev.empty() || ev[0].size() < 6) return;
  std::uint16_t event = 0;
  std::uint32_t value = 0;
  std::memcpy(&event, ev[0].data(), 2);
  std::memcpy(&value, static_cast<const char*>(ev[0].data()) + 2, 4);
  if (event != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return;
  count(handshake);
  static common::log_limiter limit;
  common::warn_limited(limit, "auth", "peer refused endpoint={} reason=\"handshake failed (no CURVE or wrong server key)\" "
                       "zmq_error={}", ev.size() > 1 ? frame_text(ev[1]) : "", value);
}

std::optional<std::string> zap_auth::check(const std::string& peer, zmq::message_t& kind_frame, std::string_view body) {
  const char* uid = nullptr;
  try {
    uid = kind_frame.gets("User-Id");
  } catch (const zmq::error_t&) {
  }
  const allowed_peer* entry = uid ? allowed_.find(uid) : nullptr;
  if (!entry) {  // cannot happen past ZAP; refused all the same
    count(unknown_key);
    return "no allowed key on this connection";
  }
  if (!entry->may_use(peer)) {
    count(routing_id);
    static common::log_limiter limit;
    common::warn_limited(limit, "auth",
                         "message refused peer={} key={} allowed_as=\"{}\" reason=\"routing id not allowed for this key\"",
                         peer, uid, entry->describe());
    return "key " + key_tag(uid) + " may not use routing id " + peer;
  }
  if (entry->what == allowed_peer::role::gateway) return std::nullopt;
  const auto kind = static_cast<proto::kind>(*static_cast<const std::uint8_t*>(kind_frame.data()));
  bool ok = kind == proto::kind::group_send || kind == proto::kind::send || kind == proto::kind::heartbeat ||
            kind == proto::kind::presence_get;  // read-only: who is in a group
  if (kind == proto::kind::hello) {
    auto h = proto::decode(static_cast<std::uint8_t>(kind), body);
    ok = !h || (std::holds_alternative<proto::hello>(h.value()) &&
                std::get<proto::hello>(h.value()).role == proto::peer_role::client);  // malformed: the router says so
  }
  if (ok) return std::nullopt;
  count(role);
  static common::log_limiter limit;
  common::warn_limited(limit, "auth", "message refused peer={} key={} allowed_as=\"{}\" kind={} reason=\"a client key "
                       "may only HELLO as a client and publish\"", peer, key_tag(uid), entry->describe(),
                       proto::kind_name(static_cast<std::uint8_t>(kind)));
  return "a client key may only say HELLO as a client, GROUP_SEND, SEND, PRESENCE_GET and HEARTBEAT";
}

std::array<std::uint64_t, zap_auth::reason_count> zap_auth::refused() const {
  std::array<std::uint64_t, reason_count> out{};
  for (std::size_t i = 0; i < reason_count; ++i) out[i] = refused_[i].load(std::memory_order_relaxed);
  return out;
}

}  // namespace sb::layerd
