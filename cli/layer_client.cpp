// layer_client.cpp — see layer_client.hpp.
#include "cli/layer_client.hpp"

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "common/limits.hpp"
#include "proto/codec.hpp"
#include "proto/zmq_frames.hpp"

namespace sb::cli {
namespace {

// `cli.` + 16 hex digits: a valid channel-name prefix (layerd checks
// `specific.<id>!x`), and unlikely to collide with another CLI run.
std::string random_cli_id() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "cli.";
  for (int i = 15; i >= 0; --i) id.push_back(hex[(v >> (i * 4)) & 0xF]);
  return id;
}

}  // namespace

std::string describe(const proto::error& e) { return e.code + ": " + e.text; }

layer_client::layer_client(std::string endpoint, std::chrono::milliseconds timeout,
                           const std::optional<common::curve_client_keys>& curve)
    : endpoint_(std::move(endpoint)), timeout_(timeout), id_(random_cli_id()), sock_(ctx_, zmq::socket_type::dealer) {
  if (curve) common::use_curve_client(sock_, *curve);
  curve_ = curve.has_value();
  sock_.set(zmq::sockopt::routing_id, id_);
  // Until close, queue rather than drop; at close, give the queue at most
  // the timeout to reach layerd.
  sock_.set(zmq::sockopt::linger, static_cast<int>(timeout_.count()));
  sock_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(common::limits::max_proto_body));
  sock_.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout_.count()));
}

layer_client::~layer_client() {
  // Nothing queued is worth waiting for when layerd never answered.
  if (!welcomed_) sock_.set(zmq::sockopt::linger, 0);
  sock_.close();  // ctx_'s destructor then waits up to the linger for queued frames
}

common::result<proto::welcome> layer_client::run() {
  try {
    sock_.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    return common::error{"cannot use layerd endpoint " + endpoint_ + ": " + e.what()};
  }
  const auto deadline = clock::now() + timeout_;
  try {
    // A client, not a gateway: layerd neither polls an inbox for it nor
    // logs it joining and expiring.
    do_send(proto::hello{common::limits::proto_major, common::limits::proto_minor, id_, proto::peer_role::client});
  } catch (const zmq::error_t& e) {
    return common::error{"cannot send HELLO to layerd at " + endpoint_ + ": " + e.what()};
  }
  // Bounded: each round either returns or consumes one message, and
  // recv_until returns nullopt at the deadline.
  for (int round = 0; round < 1000; ++round) {
    auto m = recv_until(deadline);
    if (!m) break;
    if (auto* w = std::get_if<proto::welcome>(&*m)) {
      welcomed_ = true;
      return *w;
    }
    if (auto* e = std::get_if<proto::error>(&*m)) {
      return common::error{"layerd at " + endpoint_ + " refused HELLO: " + describe(*e)};
    }
  }
  return common::error{"layerd at " + endpoint_ + " did not answer HELLO within " + std::to_string(timeout_.count()) +
                       " ms (is switchboard-layerd running there" +
                       (curve_ ? std::string(", and is this client's key on its allow-list?)") : std::string("?)"))};
}

common::result<std::optional<proto::error>> layer_client::send_checked(const proto::message& m) {
  const auto deadline = clock::now() + timeout_;
  try {
    do_send(m);
    do_send(proto::heartbeat{});
  } catch (const zmq::error_t& e) {
    return common::error{std::string("cannot send to layerd at ") + endpoint_ + ": " + e.what()};
  }
  std::optional<proto::error> refused;
  for (int round = 0; round < 1000; ++round) {
    auto r = recv_until(deadline);
    if (!r) break;
    if (auto* e = std::get_if<proto::error>(&*r)) {
      if (!refused) refused = *e;  // the first one is about our send; layerd sends one per message
      continue;
    }
    if (std::holds_alternative<proto::heartbeat>(*r)) return refused;
  }
  if (refused) return refused;
  return common::error{"layerd at " + endpoint_ + " did not confirm within " + std::to_string(timeout_.count()) +
                       " ms; the message may or may not have been delivered"};
}

common::result<std::variant<proto::presence_state, proto::error>> layer_client::presence(const std::string& group) {
  const auto deadline = clock::now() + timeout_;
  constexpr std::uint64_t request = 1;
  try {
    do_send(proto::presence_get{request, group});
  } catch (const zmq::error_t& e) {
    return common::error{std::string("cannot send to layerd at ") + endpoint_ + ": " + e.what()};
  }
  for (int round = 0; round < 1000; ++round) {
    auto r = recv_until(deadline);
    if (!r) break;
    using answer = std::variant<proto::presence_state, proto::error>;
    if (auto* st = std::get_if<proto::presence_state>(&*r); st && st->request == request) return answer{*st};
    if (auto* e = std::get_if<proto::error>(&*r)) return answer{*e};
  }
  return common::error{"layerd at " + endpoint_ + " did not answer within " + std::to_string(timeout_.count()) + " ms"};
}

void layer_client::do_send(const proto::message& m) {
  const auto k = static_cast<std::uint8_t>(proto::kind_of(m));
  const std::string body = proto::encode(m);
  // Blocking sends, bounded by ZMQ_SNDTIMEO; an unconnected DEALER queues.
  if (!sock_.send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore) ||
      !sock_.send(zmq::buffer(body), zmq::send_flags::none)) {
    throw zmq::error_t();
  }
}

std::optional<proto::message> layer_client::recv_until(clock::time_point deadline) {
  for (int round = 0; round < 100000; ++round) {
    const auto now = clock::now();
    if (now >= deadline) return std::nullopt;
    std::array<zmq::pollitem_t, 1> items{{{sock_.handle(), 0, ZMQ_POLLIN, 0}}};
    try {
      zmq::poll(items.data(), items.size(), std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                                std::chrono::milliseconds(1));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return std::nullopt;
    }
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    // Read every frame of the message (keeping at most a few), so a
    // malformed one cannot leave frames behind for the next read.
    auto parts = proto::recv_frames(sock_, 3);
    if (parts.size() != 2 || parts[0].size() != 1) continue;  // not [kind, body]: not for us
    const auto k = *static_cast<const std::uint8_t*>(parts[0].data());
    auto decoded = proto::decode(k, std::string_view(static_cast<const char*>(parts[1].data()), parts[1].size()));
    if (!decoded) continue;
    return std::move(decoded.value());
  }
  return std::nullopt;
}

}  // namespace sb::cli
