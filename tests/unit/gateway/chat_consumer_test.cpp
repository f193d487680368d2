// chat_consumer_test.cpp — the chat consumer, without sockets.
#include <gtest/gtest.h>

#include "gateway/chat_consumer.hpp"
#include "tests/unit/gateway/consumer_fakes.hpp"

namespace sb::gateway {
namespace {

struct ChatConsumer : fakes::consumer_fixture {
  std::unique_ptr<consumer> chat = chat_consumer::make("lobby", identity{"42", "Kim", false}, layer, stats);
};

TEST_F(ChatConsumer, JoinsTheRoomsGroupOnConnectAndAcceptsOnlyOnceAcknowledged) {
  EXPECT_EQ(chat->group(), "chat_lobby");
  bool accepted = false;
  chat->on_connect(socket, [&](bool ok, const std::string&) { accepted = ok; });
  ASSERT_EQ(layer.calls.size(), 1u);
  EXPECT_EQ(layer.calls[0].what, "group_add");
  EXPECT_EQ(layer.calls[0].group, "chat_lobby");
  EXPECT_EQ(layer.calls[0].arg, "gw.test!1");
  EXPECT_FALSE(accepted);
  layer.joins[0](true, "");
  EXPECT_TRUE(accepted);
}

TEST_F(ChatConsumer, TurnsAMessageIntoAGroupSendOfChatMessage) {
  chat->on_receive(socket, R"({"message": "hello"})");
  ASSERT_EQ(layer.calls.size(), 1u);
  EXPECT_EQ(layer.calls[0].what, "group_send");
  EXPECT_EQ(layer.calls[0].group, "chat_lobby");
  EXPECT_EQ(nlohmann::json::parse(layer.calls[0].arg),
            nlohmann::json({{"type", "chat.message"}, {"message", "hello"}, {"user", {{"id", "42"}, {"name", "Kim"}}}}));
  EXPECT_TRUE(socket.frames.empty());
  EXPECT_EQ(stats.bad_frames.load(), 0u);
}

TEST_F(ChatConsumer, StampsTheSocketsUserAndIgnoresAnyUserTheFrameClaims) {
  chat->on_receive(socket, R"({"message": "hi", "user": {"id": "1", "name": "Admin"}, "guest": false})");
  ASSERT_EQ(layer.calls.size(), 1u);
  const auto ev = nlohmann::json::parse(layer.calls[0].arg);
  EXPECT_EQ(ev["user"], nlohmann::json({{"id", "42"}, {"name", "Kim"}}));
  EXPECT_EQ(ev.size(), 3u) << ev.dump();
}

TEST_F(ChatConsumer, AGuestsMessagesSayTheyAreAGuests) {
  auto guest = chat_consumer::make("lobby", identity{"guest-0a1b2c3d", "guest-0a1b2c3d", true}, layer, stats);
  guest->on_receive(socket, R"({"message": "hi"})");
  ASSERT_EQ(layer.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(layer.calls[0].arg)["user"],
            nlohmann::json({{"id", "guest-0a1b2c3d"}, {"name", "guest-0a1b2c3d"}, {"guest", true}}));
}

TEST_F(ChatConsumer, AnswersASendTheLayerRefusesWithAnOverloadedErrorFrame) {
  layer.refuse_sends = true;
  chat->on_receive(socket, R"({"message": "hello"})");
  ASSERT_EQ(socket.frames.size(), 1u);
  EXPECT_EQ(socket.reply_json(0)["type"], "error");
  EXPECT_EQ(socket.reply_json(0)["code"], "overloaded");
  EXPECT_EQ(stats.bad_frames.load(), 1u);
}

TEST_F(ChatConsumer, AnswersBadJsonWithAnErrorFrameAndSendsNothing) {
  chat->on_receive(socket, "not json");
  EXPECT_TRUE(layer.calls.empty());
  ASSERT_EQ(socket.frames.size(), 1u);
  EXPECT_EQ(socket.reply_json(0)["type"], "error");
  EXPECT_EQ(socket.reply_json(0)["code"], "bad_json");
  EXPECT_EQ(stats.bad_frames.load(), 1u);
}

TEST_F(ChatConsumer, AnswersJsonWithoutAMessageWithBadMessage) {
  chat->on_receive(socket, R"({"text": "hi"})");
  EXPECT_TRUE(layer.calls.empty());
  ASSERT_EQ(socket.frames.size(), 1u);
  EXPECT_EQ(socket.reply_json(0)["code"], "bad_message");
}

TEST_F(ChatConsumer, AnswersAPingWithAPongOnItsSocketAloneAndCountsIt) {
  chat->on_receive(socket, R"({"type": "ping"})");
  chat->on_receive(socket, R"({"type": "ping", "ref": "abc"})");
  EXPECT_TRUE(layer.calls.empty()) << "a ping reaches nobody else";
  ASSERT_EQ(socket.frames.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(socket.reply_json(i), nlohmann::json({{"type", "pong"}}));
  EXPECT_EQ(socket.frames[0], socket.frames[1]) << "one shared frame";
  EXPECT_EQ(stats.pings.load(), 2u);
  EXPECT_EQ(stats.bad_frames.load(), 0u);
}

TEST_F(ChatConsumer, SendsAFrameWithATypeAndAMessageAsAChatMessage) {
  chat->on_receive(socket, R"({"type": "ping", "message": "hi"})");
  ASSERT_EQ(layer.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(layer.calls[0].arg)["type"], "chat.message");
  EXPECT_TRUE(socket.frames.empty());
  EXPECT_EQ(stats.pings.load(), 0u);
}

TEST_F(ChatConsumer, LeavesItsGroupOnDisconnect) {
  chat->on_disconnect(socket);
  ASSERT_EQ(layer.calls.size(), 1u);
  EXPECT_EQ(layer.calls[0].what, "group_discard");
  EXPECT_EQ(layer.calls[0].group, "chat_lobby");
  EXPECT_EQ(layer.calls[0].arg, "gw.test!1");
}

TEST(ConsumerRender, AGroupEventBecomesOneSharedTextFrameInTheSeedsForm) {
  const auto event = common::event_from_json(R"({"type": "chat.message", "message": "hi"})");
  ASSERT_TRUE(event);
  auto frame = consumer::render(event.value());
  ASSERT_TRUE(frame);
  const std::string& f = *frame.value();
  EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x81) << "FIN + text";
  EXPECT_EQ(nlohmann::json::parse(f.substr(2)), nlohmann::json({{"message", "hi"}}));
  EXPECT_FALSE(consumer::render("\xc1")) << "malformed msgpack is refused";
}

TEST(ConsumerRender, AChatMessageShowsItsUserIdAndTimeAndNothingElse) {
  const auto event = common::event_from_json(
      R"({"type": "chat.message", "message": "hi", "secret": 1, "ts": 1764576000123, "id": "1764576000123-0",)"
      R"( "user": {"id": "42", "name": "Kim", "email": "k@example.com", "guest": "no"}})");
  ASSERT_TRUE(event);
  auto frame = consumer::render(event.value());
  ASSERT_TRUE(frame);
  const auto j = nlohmann::json::parse(frame.value()->substr(2));
  EXPECT_EQ(j, nlohmann::json({{"message", "hi"},
                               {"user", {{"id", "42"}, {"name", "Kim"}}},
                               {"id", "1764576000123-0"},
                               {"ts", 1764576000123}}));
  EXPECT_EQ(nlohmann::ordered_json::parse(frame.value()->substr(2)).begin().key(), "message")
      << "message first, as the seed's frame";
  const auto odd = common::event_from_json(R"({"type": "chat_message", "message": "x", "user": "42", "id": 5, "ts": "now"})");
  ASSERT_TRUE(odd);
  EXPECT_EQ(nlohmann::json::parse(consumer::render(odd.value()).value()->substr(2)), nlohmann::json({{"message", "x"}}))
      << "a user that is not a map, an id not a string and a ts not an integer are dropped";
  const auto guest = common::event_from_json(R"({"type": "chat.message", "message": "x", "user": {"id": 7, "guest": true}})");
  EXPECT_EQ(nlohmann::json::parse(consumer::render(guest.value()).value()->substr(2))["user"],
            nlohmann::json({{"guest", true}}));
}

}  // namespace
}  // namespace sb::gateway
