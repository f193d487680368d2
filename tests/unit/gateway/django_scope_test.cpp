// django_scope_test.cpp — the ASGI scope a worker gets with switchboard.connect.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/django_scope.hpp"

namespace sb::gateway {
namespace {

TEST(DjangoScope, CarriesWhatDaphneWouldBuild) {
  django_scope s;
  s.scheme = "wss";
  s.path = "/ws/app/café/";
  s.raw_path = "/ws/app/caf%C3%A9/";
  s.query_string = "a=1";
  s.headers = {{"Host", "example.com"}, {"Cookie", "sessionid=abc"}, {"X-Two", "1"}, {"x-two", "2"}};
  s.client = {"203.0.113.9", 0};
  s.server = {"127.0.0.1", 8000};
  s.subprotocols = {"p1", "p2"};
  s.kwargs = {{"room", "café"}, {"part", "x"}};
  const auto packed = s.to_msgpack();
  const auto j = nlohmann::json::from_msgpack(packed);
  EXPECT_EQ(j["type"], "websocket");
  EXPECT_EQ(j["asgi"], (nlohmann::json{{"version", "3.0"}}));
  EXPECT_EQ(j["http_version"], "1.1");
  EXPECT_EQ(j["scheme"], "wss");
  EXPECT_EQ(j["path"], "/ws/app/café/");
  EXPECT_EQ(j["raw_path"].get_binary(), std::vector<std::uint8_t>(s.raw_path.begin(), s.raw_path.end()));
  EXPECT_EQ(j["query_string"].get_binary(), (std::vector<std::uint8_t>{'a', '=', '1'}));
  EXPECT_EQ(j["root_path"], "");
  ASSERT_EQ(j["headers"].size(), 4u);
  auto header = [&](std::size_t i) {
    const auto& k = j["headers"][i][0].get_binary();
    const auto& v = j["headers"][i][1].get_binary();
    return std::make_pair(std::string(k.begin(), k.end()), std::string(v.begin(), v.end()));
  };
  EXPECT_EQ(header(0), std::make_pair(std::string("host"), std::string("example.com")));
  EXPECT_EQ(header(1), std::make_pair(std::string("cookie"), std::string("sessionid=abc")));
  EXPECT_EQ(header(2).first, "x-two") << "lowercased, in request order, repeats kept";
  EXPECT_EQ(header(3), std::make_pair(std::string("x-two"), std::string("2")));
  EXPECT_EQ(j["client"], (nlohmann::json{"203.0.113.9", 0}));
  EXPECT_EQ(j["server"], (nlohmann::json{"127.0.0.1", 8000}));
  EXPECT_EQ(j["subprotocols"], (nlohmann::json{"p1", "p2"}));
  EXPECT_EQ(j["url_route"], (nlohmann::json{{"args", nlohmann::json::array()}, {"kwargs", {{"room", "café"}, {"part", "x"}}}}));
}

TEST(DjangoScope, SubprotocolsAreSplitOnCommas) {
  std::vector<std::string> out;
  add_subprotocols("chat, superchat ,,  v2", out);
  add_subprotocols("", out);
  add_subprotocols("last", out);
  EXPECT_EQ(out, (std::vector<std::string>{"chat", "superchat", "v2", "last"}));
}

}  // namespace
}  // namespace sb::gateway
