// worker_wire_test.cpp — the gateway ⇄ Django worker messages: what the
// gateway writes, and every malformed worker message refused with a reason.
#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "common/worker_wire.hpp"

namespace sb::common {
namespace {

namespace ww = worker_wire;
using kind = ww::message::kind;
const std::string W = "specific.abc123!def456";

nlohmann::json as_json(const std::string& msgpack_bytes) { return nlohmann::json::from_msgpack(msgpack_bytes); }
std::string pack(const nlohmann::json& j) {
  auto v = nlohmann::json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}
std::string with_bytes(const nlohmann::json& j, const std::string& key, const std::string& bytes) {
  nlohmann::json copy = j;
  copy[key] = nlohmann::json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  return pack(copy);
}
ww::message ok(const std::string& bytes, std::size_t max = 65536) {
  auto m = ww::decode(bytes, max);
  EXPECT_TRUE(m) << (m ? "" : m.error_text());
  return m ? m.value() : ww::message{};
}
std::string refused(const std::string& bytes, std::size_t max = 65536) {
  auto m = ww::decode(bytes, max);
  EXPECT_FALSE(m);
  return m ? std::string() : m.error_text();
}

TEST(WorkerWire, GatewayMessagesAreChannelsMessages) {
  const std::string S = "specific.gw.0123456789abcdef!1";
  auto c = as_json(ww::connect(S, pack({{"type", "websocket"}})));
  EXPECT_EQ(c, (nlohmann::json{{"type", "switchboard.connect"}, {"socket", S}, {"scope", {{"type", "websocket"}}}, {"batch", true}}));
  EXPECT_EQ(as_json(ww::receive_text(S, "hé")), (nlohmann::json{{"type", "websocket.receive"}, {"socket", S}, {"text", "hé"}}));
  auto b = as_json(ww::receive_bytes(S, std::string("\0\xff", 2)));
  EXPECT_EQ(b["bytes"].get_binary(), (std::vector<std::uint8_t>{0, 255}));
  EXPECT_EQ(as_json(ww::disconnect(S, 1006))["code"], 1006);
  const std::string ev = pack({{"type", "user.joined"}, {"who", "ann"}});
  EXPECT_EQ(as_json(ww::event(S, ev))["event"], (nlohmann::json{{"type", "user.joined"}, {"who", "ann"}}));
  auto a = as_json(ww::alive("gw.0123456789abcdef", {"1", "2"}));
  EXPECT_EQ(a, (nlohmann::json{{"type", "switchboard.alive"}, {"gateway", "gw.0123456789abcdef"}, {"sockets", {"1", "2"}}}));
  std::vector<std::string> many(ww::max_alive_sockets + 1, "1");
  EXPECT_FALSE(as_json(ww::alive("gw.x", many)).contains("sockets"));
}

TEST(WorkerWire, AnEventForSeveralSocketsCarriesItOnce) {
  const std::string ev = pack({{"type", "user.joined"}, {"who", "ann"}});
  const std::vector<std::string> socks = {"specific.g!1", "specific.g!2", "specific.g!3"};
  auto e = as_json(ww::event_for(socks, 1, 2, ev));
  EXPECT_EQ(e, (nlohmann::json{{"type", "switchboard.event"}, {"sockets", {"specific.g!2", "specific.g!3"}},
                               {"event", {{"type", "user.joined"}, {"who", "ann"}}}}));
}

TEST(WorkerWire, ABatchsEntriesEachWithItsSocketAndBadOnesNamed) {
  EXPECT_FALSE(ww::decode_batch(pack({{"type", "switchboard.worker_alive"}, {"worker", W}})));
  EXPECT_FALSE(ww::decode_batch(pack({1, 2})));
  const std::string S = "specific.gw.0123456789abcdef!1";
  auto b = ww::decode_batch(pack({{"type", "switchboard.batch"}, {"worker", W}, {"messages", {
      {{"type", "websocket.send"}, {"socket", S}, {"worker", W}, {"seq", 1}, {"text", "a"}},
      "not a map",
      {{"type", "websocket.send"}, {"worker", W}, {"seq", 2}, {"text", "b"}},
      {{"type", "websocket.send"}, {"socket", S}, {"worker", W}, {"seq", 2}, {"text", "c"}}}}}));
  ASSERT_TRUE(b && *b);
  const auto& batch = b->value();
  EXPECT_EQ(batch.worker, W);
  ASSERT_EQ(batch.entries.size(), 2u);
  EXPECT_EQ(batch.problems.size(), 2u);
  EXPECT_EQ(batch.entries[0].socket, S);
  auto m = ok(batch.entries[1].bytes);
  EXPECT_EQ(m.what, kind::send_text);
  EXPECT_EQ(m.data, "c");
  EXPECT_TRUE(m.in_batch);
  EXPECT_FALSE(ok(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 2}, {"text", "d"}})).in_batch);
  // refused whole: over 1,000 messages, no list, no worker
  nlohmann::json many = nlohmann::json::array();
  for (int i = 0; i < 1001; ++i) many.push_back({{"type", "websocket.send"}, {"socket", S}, {"worker", W}, {"seq", i + 1}, {"text", "x"}});
  auto big = ww::decode_batch(pack({{"type", "switchboard.batch"}, {"worker", W}, {"messages", many}}));
  ASSERT_TRUE(big);
  EXPECT_FALSE(*big);
  EXPECT_NE(big->error_text().find("1001"), std::string::npos);
  auto nolist = ww::decode_batch(pack({{"type", "switchboard.batch"}, {"worker", W}, {"messages", "x"}}));
  ASSERT_TRUE(nolist);
  EXPECT_FALSE(*nolist);
  auto noworker = ww::decode_batch(pack({{"type", "switchboard.batch"}, {"messages", nlohmann::json::array()}}));
  ASSERT_TRUE(noworker);
  EXPECT_FALSE(*noworker);
}

TEST(WorkerWire, DecodesEachWorkerMessage) {
  auto a = ok(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}, {"subprotocol", nullptr},
                    {"switchboard", {{"render", {{"chat_message", {"message"}}}}}}}));
  EXPECT_EQ(a.what, kind::accept);
  EXPECT_EQ(a.worker, W);
  EXPECT_EQ(a.seq, 1u);
  EXPECT_FALSE(a.has_subprotocol);
  ASSERT_TRUE(a.render);
  ASSERT_NE(a.render->fields_for("chat.message"), nullptr);
  auto plain = ok(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}, {"subprotocol", "p2"}}));
  EXPECT_TRUE(plain.render && plain.render->empty());
  EXPECT_TRUE(plain.has_subprotocol);
  EXPECT_EQ(plain.data, "p2");
  auto t = ok(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 2}, {"text", "hi"}, {"bytes", nullptr}}));
  EXPECT_EQ(t.what, kind::send_text);
  EXPECT_EQ(t.data, "hi");
  auto b = ok(with_bytes({{"type", "websocket.send"}, {"worker", W}, {"seq", 3}, {"text", nullptr}}, "bytes", "\x01"));
  EXPECT_EQ(b.what, kind::send_bytes);
  EXPECT_EQ(b.data, "\x01");
  auto c = ok(pack({{"type", "websocket.close"}, {"worker", W}, {"seq", 4}, {"code", 4001}}));
  EXPECT_EQ(c.what, kind::close);
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(ok(pack({{"type", "websocket.close"}, {"worker", W}, {"seq", 4}})).code, 1000);
  auto bad_code = ok(pack({{"type", "websocket.close"}, {"worker", W}, {"seq", 4}, {"code", 1006}}));
  EXPECT_EQ(bad_code.code, 1000);
  EXPECT_TRUE(bad_code.code_replaced);
  EXPECT_TRUE(ok(pack({{"type", "websocket.close"}, {"worker", W}, {"seq", 4}, {"code", -3}})).code_replaced);
  EXPECT_TRUE(ok(pack({{"type", "websocket.close"}, {"worker", W}, {"seq", 4}, {"code", 70000}})).code_replaced);
  auto g = ok(pack({{"type", "switchboard.group_add"}, {"worker", W}, {"seq", 5}, {"group", "chat_lobby"}}));
  EXPECT_EQ(g.what, kind::group_add);
  EXPECT_EQ(g.data, "chat_lobby");
  auto s = ok(pack({{"type", "switchboard.group_send"}, {"worker", W}, {"seq", 6}, {"group", "chat_lobby"},
                    {"message", {{"type", "chat.message"}, {"message", "x"}}}}));
  EXPECT_EQ(s.what, kind::group_send);
  EXPECT_EQ(as_json(s.event_msgpack), (nlohmann::json{{"type", "chat.message"}, {"message", "x"}}));
  auto alive = ok(pack({{"type", "switchboard.worker_alive"}, {"worker", W}}));
  EXPECT_EQ(alive.what, kind::worker_alive);
  auto e = ok(pack({{"type", "chat.message"}, {"message", "x"}}));
  EXPECT_EQ(e.what, kind::event);
  EXPECT_EQ(e.type, "chat.message");
}

TEST(WorkerWire, RefusesMalformedMessagesWithAReason) {
  EXPECT_NE(refused(pack({1, 2})).find("not a map"), std::string::npos);
  EXPECT_NE(refused(std::string("\xc1", 1)).find("malformed"), std::string::npos);
  EXPECT_NE(refused(pack({{"no", "type"}})).find("type"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", 5}})).find("type"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "switchboard.bogus"}, {"worker", W}, {"seq", 1}})).find("unknown message type"),
            std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.receive"}, {"worker", W}, {"seq", 1}})).find("unknown"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"seq", 1}, {"text", "x"}})).find("worker"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", "worker.plain"}, {"seq", 1}, {"text", "x"}}))
                .find("process-local"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"text", "x"}})).find("seq"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 0}, {"text", "x"}})).find("seq"),
            std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", "1"}, {"text", "x"}})).find("seq"),
            std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 1}})).find("neither"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 1}, {"text", 5}})).find("text"),
            std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.send"}, {"worker", W}, {"seq", 1}, {"text", std::string(11, 'x')}}), 10)
                .find("frame limit"), std::string::npos);
  // invalid UTF-8 in a text message
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("type"));
  pk.pack(std::string("websocket.send"));
  pk.pack(std::string("worker"));
  pk.pack(W);
  pk.pack(std::string("seq"));
  pk.pack(1);
  pk.pack(std::string("text"));
  pk.pack(std::string("\xff\xfe"));
  EXPECT_NE(refused(std::string(buf.data(), buf.size())).find("UTF-8"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "switchboard.group_add"}, {"worker", W}, {"seq", 1}, {"group", "bad group!"}}))
                .find("group"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "switchboard.group_send"}, {"worker", W}, {"seq", 1}, {"group", "g"}})).find("message"),
            std::string::npos);
  EXPECT_NE(refused(pack({{"type", "switchboard.group_send"}, {"worker", W}, {"seq", 1}, {"group", "g"},
                          {"message", {{"no", "type"}}}})).find("message"), std::string::npos);
  EXPECT_NE(refused(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}, {"switchboard", 3}})).find("switchboard"),
            std::string::npos);
}

TEST(WorkerWire, ABadRenderIsReportedWithTheAccept) {
  for (const auto& render : {nlohmann::json("x"), nlohmann::json({{"h", "message"}}), nlohmann::json({{"h", {1}}}),
                             nlohmann::json({{"", {"a"}}})}) {
    auto a = ok(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}, {"switchboard", {{"render", render}}}}));
    EXPECT_EQ(a.what, kind::accept);
    EXPECT_FALSE(a.render) << render.dump();
    EXPECT_FALSE(a.render_problem.empty()) << render.dump();
  }
}

TEST(WorkerWire, AnAcceptMayNameTheConsumersUser) {
  auto a = ok(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1},
                    {"switchboard", {{"render", {}}, {"user", {{"id", "7"}, {"name", "Ana"}}}}}}));
  EXPECT_TRUE(a.has_user);
  EXPECT_EQ(a.user_id, "7");
  EXPECT_EQ(a.user_name, "Ana");
  EXPECT_FALSE(ok(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}})).has_user);
  for (const auto& user : {nlohmann::json("7"), nlohmann::json({{"id", 7}, {"name", "Ana"}}), nlohmann::json({{"id", "7"}}),
                           nlohmann::json({{"id", ""}, {"name", "Ana"}}), nlohmann::json({{"id", "7"}, {"name", std::string(201, 'n')}}),
                           nlohmann::json({{"id", std::string(129, '1')}, {"name", "Ana"}})}) {
    EXPECT_NE(refused(pack({{"type", "websocket.accept"}, {"worker", W}, {"seq", 1}, {"switchboard", {{"user", user}}}}))
                  .find("user"),
              std::string::npos)
        << user.dump();
  }
}

TEST(WorkerWire, CloseCodesAServerMaySend) {
  for (int c : {1000, 1001, 1003, 1007, 1011, 1012, 1013, 3000, 4999}) EXPECT_TRUE(ww::server_may_send(c)) << c;
  for (int c : {0, 999, 1004, 1005, 1006, 1015, 2000, 5000}) EXPECT_FALSE(ww::server_may_send(c)) << c;
}

}  // namespace
}  // namespace sb::common
