// consumer_fakes.hpp — a channel layer and a socket that record, for consumer tests.
//
// Consumers only reach the outside through channel_layer and
// consumer_socket, so these two recorders are all a test needs: no
// sockets, no ZeroMQ, no layerd. Single-threaded, like a consumer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "gateway/channel_layer.hpp"
#include "gateway/consumer_socket.hpp"
#include "gateway/server_context.hpp"

namespace sb::gateway::fakes {

struct recorded_call {
  std::string what;  // "group_add", "group_discard", "group_send"
  std::string group;
  std::string arg;  // the channel, or the event as JSON
};

class recording_layer final : public channel_layer {
 public:
  void group_add(std::string group, std::string channel, join_callback cb) override {
    calls.push_back({"group_add", std::move(group), std::move(channel)});
    joins.push_back(std::move(cb));
  }
  void group_discard(std::string group, std::string channel) override {
    calls.push_back({"group_discard", std::move(group), std::move(channel)});
  }
  bool group_send(std::string group, std::string event) override {
    const auto j = nlohmann::json::from_msgpack(event);
    calls.push_back({"group_send", std::move(group), j.dump()});
    if (refuse_sends) return false;
    return true;
  }

  std::vector<recorded_call> calls;
  bool refuse_sends = false;  // group_send answers false (the layer is full)
  std::vector<join_callback> joins;  // acknowledge with joins[i](ok, why)
};

class recording_socket final : public consumer_socket {
 public:
  std::string channel() const override { return "gw.test!1"; }
  void reply(std::shared_ptr<const std::string> frame) override { frames.push_back(std::move(frame)); }

  // The JSON payload of the i-th reply (a short unmasked text frame).
  nlohmann::json reply_json(std::size_t i) const {
    const std::string& f = *frames.at(i);
    return nlohmann::json::parse(f.substr(2));
  }

  std::vector<std::shared_ptr<const std::string>> frames;
};

// What every consumer test starts from; the test adds its consumer.
struct consumer_fixture : ::testing::Test {
  recording_layer layer;
  recording_socket socket;
  gateway_stats stats;
};

}  // namespace sb::gateway::fakes
