// peers.cpp — see peers.hpp.
#include "layerd/peers.hpp"

#include <stdexcept>

#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "proto/codec.hpp"

namespace sb::layerd {

peers::peers(const std::string& bind, const std::string& curve_secret_file, const std::string& curve_allow_file)
    : socket_(ctx_, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::router_handover, 1);  // a reconnecting gateway takes its id back
  socket_.set(zmq::sockopt::sndhwm, 100000);
  socket_.set(zmq::sockopt::rcvhwm, 100000);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(common::limits::max_proto_body));
  if (!curve_secret_file.empty()) {  // also turns handover off (layerd/zap_auth.hpp)
    auth_ = std::make_unique<zap_auth>(ctx_, curve_secret_file, curve_allow_file);
    auth_->secure(socket_);
  }
  try {
    socket_.bind(bind);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot bind " + bind + ": " + e.what());
  }
  endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
}

bool peers::owns_channel(std::string_view channel) const {
  auto parts = common::split_specific_channel(channel);
  return parts && is_gateway(std::string(parts->gateway));
}

void peers::heard(const std::string& id, clock::time_point now) {
  if (auto g = gateways_.find(id); g != gateways_.end()) g->second = now;
  if (auto c = clients_.find(id); c != clients_.end()) c->second = now;
}

bool peers::hello_gateway(const std::string& id, clock::time_point now) {
  clients_.erase(id);
  return gateways_.insert_or_assign(id, now).second;
}

bool peers::hello_client(const std::string& id, clock::time_point now) {
  return clients_.insert_or_assign(id, now).second;
}

std::vector<std::string> peers::expire(clock::time_point now, clock::duration timeout) {
  std::vector<std::string> silent;
  for (const auto& [gateway, last] : gateways_) {
    if (now - last > timeout) silent.push_back(gateway);
  }
  std::erase_if(clients_, [&](const auto& c) {
    if (now - c.second <= timeout) return false;
    common::log("layerd")->debug("client left peer={}", c.first);
    return true;
  });
  return silent;
}

void peers::reply(const std::string& peer, const proto::message& m) {
  send_raw(peer, static_cast<std::uint8_t>(proto::kind_of(m)), proto::encode(m));
}

bool peers::send_raw(const std::string& peer, std::uint8_t k, const std::string& body) {
  try {
    if (!socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++stats_.send_drops;
      // A gateway that cannot keep up fills its queue on every send: once
      // per interval, with the total (docs/architecture.md, rule 7).
      static common::log_limiter limit;
      common::warn_limited(limit, "fanout", "send dropped peer={} kind={} reason=\"queue full\" dropped_total={}", peer,
                           proto::kind_name(k), stats_.send_drops);
      return false;
    }
    socket_.send(zmq::const_buffer(&k, 1), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(body), zmq::send_flags::none);
    return true;
  } catch (const zmq::error_t& e) {
    ++stats_.send_drops;
    static common::log_limiter limit;
    common::warn_limited(limit, "fanout", "send dropped peer={} kind={} reason=\"{}\" dropped_total={}", peer,
                         proto::kind_name(k), e.what(), stats_.send_drops);
    return false;
  }
}

}  // namespace sb::layerd
