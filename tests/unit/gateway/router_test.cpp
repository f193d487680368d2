// router_test.cpp — URL patterns → routes, like Django's urls.py/routing.py.
#include <gtest/gtest.h>

#include "gateway/chat_consumer.hpp"
#include "gateway/gateway_config.hpp"
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

TEST(Router, ServesTheSeedPagesUnderClassic) {
  EXPECT_EQ(match_route("/classic/chat/").what, k::classic_index_page);
  auto r = match_route("/classic/chat/%EB%A1%9C%EB%B9%84/");
  EXPECT_EQ(r.what, k::classic_room_page);
  EXPECT_EQ(r.room, "로비");
  for (const char* bad : {"/classic/", "/classic/chat", "/classic/chat/a/b/", "/classic/chat//"}) {
    EXPECT_EQ(match_route(bad).what, k::not_found) << bad;
  }
}

TEST(Router, WsCheckTakesAnyPathBelowIt) {
  EXPECT_EQ(match_route("/ws-check/ws/chat/lobby/?since=1-0").what, k::ws_check);
  EXPECT_EQ(match_route("/ws-check/nothing").what, k::ws_check) << "http_session answers 404 for the inner path";
  EXPECT_EQ(match_route("/ws-check").what, k::not_found);
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

// --route tables (router.hpp): "PATTERN KIND" values parsed at start-up.
route_table table(std::vector<std::string> specs) {
  std::string error;
  auto t = route_table::parse(specs, error);
  EXPECT_TRUE(t.has_value()) << error;
  return t ? std::move(*t) : route_table::defaults();
}

std::string refusal(std::vector<std::string> specs) {
  std::string error;
  EXPECT_FALSE(route_table::parse(specs, error).has_value()) << specs.front();
  return error;
}

TEST(RouteTable, TheDefaultsAreTheConfigDefaultsAndTodaysPaths) {
  EXPECT_EQ(gateway_config{}.routes, route_table::default_specs());
  auto r = match_route("/ws/chat/lobby/");
  ASSERT_EQ(r.kwargs.size(), 1u);
  EXPECT_EQ(r.kwargs[0].name, "room_name");
  EXPECT_EQ(r.kwargs[0].value, "lobby");
  r = match_route("/ws/notification/c1/");
  ASSERT_EQ(r.kwargs.size(), 1u);
  EXPECT_EQ(r.kwargs[0].name, "center_name");
  EXPECT_EQ(r.room, "c1");
}

TEST(RouteTable, AConfiguredPatternServesItsConsumerAndReplacesTheDefaults) {
  const auto t = table({"/ws/rooms/<room_name>/ chat"});
  auto r = match_route("/ws/rooms/lobby/", t);
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.make_consumer, &chat_consumer::make);
  EXPECT_EQ(r.room, "lobby");
  ASSERT_EQ(r.kwargs.size(), 1u);
  EXPECT_EQ(r.kwargs[0].name, "room_name");
  EXPECT_EQ(r.kwargs[0].value, "lobby");
  EXPECT_EQ(match_route("/ws/chat/lobby/", t).what, k::ws_not_found);
  EXPECT_EQ(match_route("/ws/notification/c/", t).what, k::ws_not_found);
  // the pages stay whatever the table
  EXPECT_EQ(match_route("/chat/lobby/", t).what, k::room_page);
  EXPECT_EQ(match_route("/healthz", t).what, k::healthz);
  EXPECT_EQ(match_route("/nope", t).what, k::not_found);
}

TEST(RouteTable, LiteralSegmentsAroundTheNameAndQueryStrings) {
  const auto t = table({"/ws/v1/<center>/events/ notification", "/ws/v1/<room>/ chat"});
  auto r = match_route("/ws/v1/c9/events/?token=x/y", t);
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.make_consumer, &notification_consumer::make);
  EXPECT_EQ(r.room, "c9");
  ASSERT_EQ(r.kwargs.size(), 1u);
  EXPECT_EQ(r.kwargs[0].name, "center");
  r = match_route("/ws/v1/lobby/?x=/ws/v1/a/events/", t);
  EXPECT_EQ(r.make_consumer, &chat_consumer::make);
  EXPECT_EQ(r.room, "lobby");
  for (const char* bad : {"/ws/v1/c9/events", "/ws/v1/c9/events/x/", "/ws/v1/c9/other/", "/ws/v1//events/",
                          "/ws/v1//", "/ws/v1/a/b/c/", "/ws/v2/a/", "/ws/v1/", "/ws/V1/a/", "/ws/v%31/a/",
                          "/ws//v1/a/", "/ws/v1/a//"}) {
    const auto m = match_route(bad, t);
    EXPECT_EQ(m.what, k::ws_not_found) << bad;
    EXPECT_TRUE(m.kwargs.empty()) << bad;
    EXPECT_TRUE(m.room.empty()) << bad;
  }
}

TEST(RouteTable, FirstMatchWins) {
  const auto t = table({"/ws/x/<a>/ notification", "/ws/<b>/lobby/ chat", "/ws/x/lobby/<c>/ chat"});
  EXPECT_EQ(match_route("/ws/x/lobby/", t).make_consumer, &notification_consumer::make);
  auto r = match_route("/ws/y/lobby/", t);
  EXPECT_EQ(r.make_consumer, &chat_consumer::make);
  EXPECT_EQ(r.kwargs[0].name, "b");
  EXPECT_EQ(r.room, "y");
  r = match_route("/ws/x/lobby/z/", t);
  EXPECT_EQ(r.kwargs[0].name, "c");
  EXPECT_EQ(r.room, "z");
}

TEST(RouteTable, NamesArePercentDecodedUnicodeWordsOf1To100CodePoints) {
  const auto t = table({"/ws/r/<room_name>/ chat"});
  auto r = match_route("/ws/r/%EB%A1%9C%EB%B9%84/", t);
  EXPECT_EQ(r.what, k::websocket);
  EXPECT_EQ(r.kwargs[0].value, "로비");
  EXPECT_EQ(match_route("/ws/r/로비/", t).room, "로비");
  EXPECT_EQ(match_route("/ws/r/%6c%6F/", t).room, "lo");
  std::string korean, hundred(100, 'a');
  for (int i = 0; i < 100; ++i) korean += "%EB%A1%9C";
  EXPECT_EQ(match_route("/ws/r/" + korean + "/", t).what, k::websocket);
  EXPECT_EQ(match_route("/ws/r/" + korean + "%EB%A1%9C/", t).what, k::ws_not_found);
  EXPECT_EQ(match_route("/ws/r/" + hundred + "/", t).what, k::websocket);
  EXPECT_EQ(match_route("/ws/r/" + hundred + "a/", t).what, k::ws_not_found);
  for (const char* bad : {"/ws/r/a-b/", "/ws/r/a%2Fb/", "/ws/r/%2F/", "/ws/r/%ZZ/", "/ws/r/%FF/", "/ws/r/%C0%AF/",
                          "/ws/r/a%20b/", "/ws/r/a+b/", "/ws/r/%/"}) {
    EXPECT_EQ(match_route(bad, t).what, k::ws_not_found) << bad;
  }
  // a huge segment is refused without decoding it
  EXPECT_EQ(match_route("/ws/r/" + std::string(1 << 20, 'a') + "/", t).what, k::ws_not_found);
}

TEST(RouteTable, BadRoutesAreRefusedNamingTheValueAndWhy) {
  struct bad_case {
    const char* spec;
    const char* why;
  };
  for (const auto& c : std::vector<bad_case>{
           {"/ws/chat/<room>/ django", "unknown kind \"django\""},
           {"/ws/chat/<room>/ django:", "django:NAME needs a channel name"},
           {"/ws/chat/<room>/ django:a!b", "django:NAME needs a channel name"},
           {"/ws/chat/<room>/ django:a b", "expected PATTERN KIND"},
           {"/ws/chat/<room>/", "expected PATTERN KIND"},
           {"/ws/chat/<room>/ chat extra", "expected PATTERN KIND"},
           {"", "expected PATTERN KIND"},
           {"/classic/chat/<a>/ chat", "collides with the gateway's classic chat pages"},
           {"/ws-check/<a>/ chat", "collides with the gateway's /ws-check/"},
           {"ws/chat/<room>/ chat", "start and end with '/'"},
           {"/ws/chat/<room> chat", "start and end with '/'"},
           {"/ws/chat//<room>/ chat", "empty segment"},
           {"/ws/chat/<1room>/ chat", "is not a name"},
           {"/ws/chat/<>/ chat", "is not a name"},
           {"/ws/chat/<ro-om>/ chat", "is not a name"},
           {"/ws/chat-<room>/ chat", "whole segment"},
           {"/ws/<a>/<a>/ chat", "duplicate name <a>"},
           {"/ws/chat/ chat", "exactly one <name> segment (its room), got 0"},
           {"/ws/<a>/<b>/ notification", "exactly one <name> segment (its center), got 2"},
           {"/ws/ch%61t/<a>/ chat", "literal segment"},
           {"/ws/../<a>/ chat", "literal segment"},
           {"/chat/<room>/ chat", "collides with the gateway's chat pages"},
           {"/ chat", "collides with the gateway's redirect"},
           {"/healthz/<a>/ chat", "collides with the gateway's /healthz"},
           {"/metrics/<a>/ chat", "collides with the gateway's /metrics"},
           {"/api/<a>/ chat", "must start with /ws/"},
       }) {
    const auto error = refusal({"/ws/ok/<r>/ chat", c.spec});
    EXPECT_NE(error.find(std::string("--route '") + c.spec + "'"), std::string::npos) << error;
    EXPECT_NE(error.find(c.why), std::string::npos) << c.spec << " -> " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  auto error = refusal({"/ws/a/<x>/ chat", "/ws/a/<y>/ notification"});
  EXPECT_NE(error.find("--route '/ws/a/<y>/ notification': duplicate pattern"), std::string::npos) << error;
  EXPECT_NE(error.find("'/ws/a/<x>/ chat'"), std::string::npos) << error;
  EXPECT_NE(refusal({}).find("at least one route"), std::string::npos);
  EXPECT_NE(refusal({"/ws/" + std::string(2000, 'a') + "/<x>/ chat"}).find("longer than"), std::string::npos);
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= route_table::max_routes; ++i) many.push_back("/ws/r" + std::to_string(i) + "/<x>/ chat");
  EXPECT_NE(refusal(many).find("at most"), std::string::npos);
  many.pop_back();
  table(many);
}

}  // namespace
}  // namespace sb::gateway

namespace sb::gateway {
namespace {

TEST(RouteTable, ABuiltInRouteMayNameADjangoConsumerAsItsGate) {
  std::string error;
  auto t = route_table::parse({"/ws/chat/<room_name>/ chat auth=django:chat", "/ws/open/<room_name>/ chat"}, error);
  ASSERT_TRUE(t) << error;
  auto r = match_route("/ws/chat/lobby/", *t);
  ASSERT_EQ(r.what, route::kind::websocket);
  EXPECT_EQ(r.gate_channel, "chat");
  EXPECT_TRUE(r.django_channel.empty());
  EXPECT_NE(r.make_consumer, nullptr);
  EXPECT_EQ(r.room, "lobby");
  EXPECT_TRUE(match_route("/ws/open/lobby/", *t).gate_channel.empty());
  EXPECT_NE(refusal({"/ws/chat/<room_name>/ chat auth=token"}).find("auth=django:NAME"), std::string::npos);
  EXPECT_NE(refusal({"/ws/chat/<room_name>/ chat auth=django:"}).find("channel name"), std::string::npos);
  EXPECT_NE(refusal({"/ws/chat/<room_name>/ chat auth=django:a!b"}).find("channel name"), std::string::npos);
  EXPECT_NE(refusal({"/ws/chat/<room_name>/ django:x auth=django:y"}).find("built-in"), std::string::npos);
  EXPECT_NE(refusal({"/ws/chat/<room_name>/ chat auth=django:a extra"}).find("expected"), std::string::npos);
}

TEST(RouteTable, DjangoRoutesTakeANameAndAnyNumberOfKwargs) {
  std::string error;
  auto t = route_table::parse({"/ws/app/<room>/<part>/ django:chat.worker", "/ws/plain/ django:w",
                               "/ws/chat/<room_name>/ chat"},
                              error);
  ASSERT_TRUE(t) << error;
  auto r = match_route("/ws/app/lobby/x_1/?a=b", *t);
  ASSERT_EQ(r.what, route::kind::websocket);
  EXPECT_EQ(r.django_channel, "chat.worker");
  EXPECT_EQ(r.make_consumer, nullptr);
  ASSERT_EQ(r.kwargs.size(), 2u);
  EXPECT_EQ(r.kwargs[0].name, "room");
  EXPECT_EQ(r.kwargs[0].value, "lobby");
  EXPECT_EQ(r.kwargs[1].name, "part");
  EXPECT_EQ(r.kwargs[1].value, "x_1");
  auto plain = match_route("/ws/plain/", *t);
  ASSERT_EQ(plain.what, route::kind::websocket);
  EXPECT_EQ(plain.django_channel, "w");
  EXPECT_TRUE(plain.kwargs.empty());
  auto chat = match_route("/ws/chat/lobby/", *t);
  EXPECT_TRUE(chat.django_channel.empty());
  EXPECT_NE(chat.make_consumer, nullptr);
  EXPECT_EQ(match_route("/ws/app/lobby/", *t).what, route::kind::ws_not_found);
}

}  // namespace
}  // namespace sb::gateway
