// notification_consumer_test.cpp — the receive-only notification consumer, without sockets.
#include <gtest/gtest.h>

#include "gateway/notification_consumer.hpp"
#include "tests/unit/gateway/consumer_fakes.hpp"

namespace sb::gateway {
namespace {

struct NotificationConsumer : fakes::consumer_fixture {
  std::unique_ptr<consumer> center = notification_consumer::make("center1", identity{}, layer, stats);
};

TEST_F(NotificationConsumer, JoinsTheCentersGroupOnConnectAndLeavesOnDisconnect) {
  EXPECT_EQ(center->group(), "notification_center1");
  std::string refused;
  center->on_connect(socket, [&](bool ok, const std::string& why) { refused = ok ? "" : why; });
  layer.joins.at(0)(false, "timeout");
  EXPECT_EQ(refused, "timeout") << "a failed join reaches the handshake";
  center->on_disconnect(socket);
  ASSERT_EQ(layer.calls.size(), 2u);
  EXPECT_EQ(layer.calls[0].what, "group_add");
  EXPECT_EQ(layer.calls[1].what, "group_discard");
  EXPECT_EQ(layer.calls[1].group, "notification_center1");
}

TEST_F(NotificationConsumer, AnswersEverySendButAPingWithNotAcceptedAndSendsNothing) {
  for (const char* text : {R"({"message": "hi"})", "not json", "", R"({"type": "pong"})",
                           R"({"type": "ping", "message": "hi"})"}) {
    center->on_receive(socket, text);
  }
  EXPECT_TRUE(layer.calls.empty());
  ASSERT_EQ(socket.frames.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(socket.reply_json(i), nlohmann::json({{"type", "error"},
                                                     {"code", "not_accepted"},
                                                     {"detail", "notification sockets only receive"}}));
  }
  EXPECT_EQ(stats.bad_frames.load(), 5u);
  EXPECT_EQ(stats.pings.load(), 0u);
}

TEST_F(NotificationConsumer, AnswersAPingWithAPong) {
  center->on_receive(socket, R"({"type": "ping", "extra": [1, 2]})");
  EXPECT_TRUE(layer.calls.empty());
  ASSERT_EQ(socket.frames.size(), 1u);
  EXPECT_EQ(socket.reply_json(0), nlohmann::json({{"type", "pong"}}));
  EXPECT_EQ(stats.pings.load(), 1u);
  EXPECT_EQ(stats.bad_frames.load(), 0u);
}

}  // namespace
}  // namespace sb::gateway
