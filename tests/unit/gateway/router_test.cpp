// router_test.cpp — URL patterns → routes, like Django's urls.py/routing.py.
#include <gtest/gtest.h>

#include "gateway/chat_consumer.hpp"
#include "gateway/notification_consumer.hpp"
#include "gateway/router.hpp"

namespace sb::gateway {
namespace {

using k = route::kind;

TEST(Router, ServesPagesAndHealth) {
  EXPECT_EQ(match_route("/").what, k::redirect_to_chat);
  EXPECT_EQ(match_route("/chat/").what, k::index_page);
  EXPECT_EQ(match_route("/chat/?x=1").what, k::index_page);
  EXPECT_EQ(match_route("/healthz").what, k::healthz);
  auto r = match_route("/chat/lobby/");
  EXPECT_EQ(r.what, k::room_page);
  EXPECT_EQ(r.room, "lobby");
}

TEST(Router, RoomPageAcceptsAnySegmentLikeDjangosStrConverter) {
  auto r = match_route("/chat/%3C%2Fscript%3E/");
  EXPECT_EQ(r.what, k::room_page) << "an encoded '/' stays inside the segment";
  EXPECT_EQ(r.room, "</script>");
  r = match_route("/chat/%3Cb%3E%20x/");
  EXPECT_EQ(r.what, k::room_page);
  EXPECT_EQ(r.room, "<b> x");
}

TEST(Router, ChatSocketsRunTheChatConsumerInAWordRoom) {
  auto r = match_route("/ws/chat/lobby/");
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.make_consumer, &chat_consumer::make);
  EXPECT_EQ(r.room, "lobby");
  r = match_route("/ws/chat/%EB%A1%9C%EB%B9%84/");
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.room, "로비");
  for (const char* bad : {"/ws/chat/a-b/", "/ws/chat/a.b/", "/ws/chat//", "/ws/chat/lobby", "/ws/chat/a/b/",
                          "/ws/chat/%ZZ/", "/ws/chat/%FF/", "/ws/chat/a%20b/", "/ws/other/", "/ws/"}) {
    EXPECT_EQ(match_route(bad).what, k::ws_not_found) << bad;
    EXPECT_EQ(match_route(bad).make_consumer, nullptr) << bad;
  }
}

TEST(Router, NotificationSocketsRunTheNotificationConsumerForAWordCenter) {
  auto r = match_route("/ws/notification/center1/");
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.make_consumer, &notification_consumer::make);
  EXPECT_EQ(r.room, "center1");
  EXPECT_EQ(match_route("/ws/notification/a-b/").what, k::ws_not_found);
  EXPECT_EQ(match_route("/ws/notification//").what, k::ws_not_found);
}

TEST(Router, RoomNameLengthIsBoundedByCodePoints) {
  std::string hundred(100, 'a');
  EXPECT_EQ(match_route("/ws/chat/" + hundred + "/").what, k::websocket);
  EXPECT_EQ(match_route("/ws/chat/" + hundred + "a/").what, k::ws_not_found);
  std::string korean;
  for (int i = 0; i < 100; ++i) korean += "%EB%A1%9C";
  EXPECT_EQ(match_route("/ws/chat/" + korean + "/").what, k::websocket);
}

TEST(Router, UnknownPathsAreNotFound) {
  EXPECT_EQ(match_route("/nope").what, k::not_found);
  EXPECT_EQ(match_route("/chat").what, k::not_found);
  EXPECT_EQ(match_route("/chat/a/b/").what, k::not_found);
  EXPECT_EQ(match_route("").what, k::not_found);
}

}  // namespace
}  // namespace sb::gateway
