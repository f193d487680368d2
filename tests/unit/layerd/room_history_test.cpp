// room_history_test.cpp — the owner's stamping and storing of a room's
// messages, against a scripted Redis: ids above what the stream holds, in
// send order, sends waiting (bounded) for the stream's last id, and what a
// replay says about gaps.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "layerd/room_history.hpp"
#include "tests/unit/layerd/fake_redis_commands.hpp"

namespace sb::layerd::testing {
namespace {

using R = owned_reply;

std::string chat(const std::string& text) {
  return common::event_from_json(R"({"type":"chat.message","message":")" + text + R"("})").value();
}
nlohmann::json shown(const std::string& event) {
  return nlohmann::json::parse(common::browser_frame_for_event(event).value());
}
common::stream_id id_of(const std::string& event) {
  return *common::parse_stream_id(shown(event)["id"].get<std::string>());
}
// XINFO STREAM's reply (through the EVAL that returns nil for no stream),
// the fields room_history reads.
R::ptr info(const std::string& last, const std::string& max_deleted, const std::string& first, long long length) {
  std::vector<R::ptr> v;
  v.push_back(R::string("length"));
  v.push_back(R::integer(length));
  v.push_back(R::string("last-generated-id"));
  v.push_back(R::string(last));
  v.push_back(R::string("max-deleted-entry-id"));
  v.push_back(R::string(max_deleted));
  v.push_back(R::string("recorded-first-entry-id"));
  v.push_back(R::string(first));
  return R::array(std::move(v));
}
// An XRANGE reply of entries (id, stored event).
R::ptr entries(const std::vector<std::pair<std::string, std::string>>& es) {
  std::vector<R::ptr> v;
  for (const auto& [id, e] : es) {
    std::vector<R::ptr> entry;
    entry.push_back(R::string(id));
    entry.push_back(R::strings({"e", e}));
    v.push_back(R::array(std::move(entry)));
  }
  return R::array(std::move(v));
}

class RoomHistory : public ::testing::Test {
 protected:
  room_history::fan_out_fn collect() {
    return [this](const std::string& e) { out.push_back(e); };
  }
  const history_setting& chat_setting() { return *history.setting_for("chat_a"); }
  // Sends one message to chat_a and, the first time, answers the last-id read.
  void ready(const R* last_id_reply) {
    history.send("chat_a", chat_setting(), chat("first"), collect());
    ASSERT_EQ(redis.named("EVAL").size(), 1u);
    redis.answer(redis.named("EVAL")[0], last_id_reply);
    ASSERT_EQ(out.size(), 1u);
  }

  layerd_config cfg;
  fake_redis_commands redis;
  room_history history{cfg, redis};
  std::vector<std::string> out;
};

TEST_F(RoomHistory, SettingsByGroupGlobFirstMatchWins) {
  layerd_config c;
  c.history = {{"chat_vip*", 5, 60}, {"chat_*", 100, 86400}};
  room_history h{c, redis};
  EXPECT_EQ(h.setting_for("chat_vip1")->maxlen, 5);
  EXPECT_EQ(h.setting_for("chat_lobby")->maxlen, 100);
  EXPECT_EQ(h.setting_for("notification_u1"), nullptr);
  c.history.clear();
  EXPECT_EQ((room_history{c, redis}.setting_for("chat_lobby")), nullptr);
  EXPECT_TRUE(room_history::keeps("chat.message"));
  EXPECT_TRUE(room_history::keeps("chat_message"));
  EXPECT_FALSE(room_history::keeps("notify"));
}

TEST_F(RoomHistory, TheFirstSendsWaitForTheStreamsLastIdThenGoInOrderAboveIt) {
  for (const char* m : {"a", "b", "c"}) EXPECT_FALSE(history.send("chat_a", chat_setting(), chat(m), collect()));
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(redis.named("EVAL").size(), 1u);
  const auto& load = redis.calls[redis.named("EVAL")[0]].args;
  ASSERT_EQ(load.size(), 4u);
  EXPECT_NE(load[1].find("XINFO"), std::string::npos);
  EXPECT_EQ((redis_commands::argv{load[2], load[3]}), (redis_commands::argv{"1", "asgi:history:chat_a"}));
  // The stream holds an id from a clock far ahead (a former owner's).
  const auto reply = info("99999999999999-5", "0-0", "1-0", 3);
  redis.answer(redis.named("EVAL")[0], reply.get());
  ASSERT_EQ(out.size(), 3u);
  common::stream_id prev{99999999999999, 5};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto j = shown(out[i]);
    EXPECT_EQ(j["message"], std::string(1, static_cast<char>('a' + i)));
    EXPECT_FALSE(j.contains("ts"));  // the id's milliseconds are the time
    const auto id = id_of(out[i]);
    EXPECT_LT(prev, id);
    prev = id;
  }
  // Each stored with its id, MAXLEN ~ 100, and the TTL refreshed.
  const auto xadds = redis.named("XADD");
  ASSERT_EQ(xadds.size(), 3u);
  const auto& a = redis.calls[xadds[0]].args;
  EXPECT_TRUE(redis.calls[xadds[0]].deferred);  // may wait for company (wire form, parsed back here)
  ASSERT_EQ(a.size(), 8u);
  EXPECT_EQ((redis_commands::argv{a[0], a[1], a[2], a[3], a[4], a[6]}),
            (redis_commands::argv{"XADD", "asgi:history:chat_a", "MAXLEN", "~", "100", "e"}));
  EXPECT_EQ(a[5], id_of(out[0]).text());
  const auto stored = shown(a[7]);
  EXPECT_FALSE(stored.contains("id"));  // the entry id is the id
  EXPECT_EQ(stored["message"], "a");  // the event as sent
  EXPECT_EQ(redis.calls[redis.named("EXPIRE")[0]].args, (redis_commands::argv{"EXPIRE", "asgi:history:chat_a", "86400"}));
  // Later sends go at once.
  EXPECT_TRUE(history.send("chat_a", chat_setting(), chat("d"), collect()));
  EXPECT_EQ(out.size(), 4u);
  EXPECT_LT(prev, id_of(out[3]));
  EXPECT_EQ(history.counters().waited, 3u);
}

TEST_F(RoomHistory, ANewStreamStartsFromTheClock) {
  const auto none = R::nil();
  ready(none.get());
  const auto id = id_of(out[0]);
  EXPECT_GT(id.ms, 1600000000000u);
  EXPECT_EQ(id.seq, 0u);
}

TEST_F(RoomHistory, AWaitRedisNeverAnswersIsBoundedAndKeepsTheOrder) {
  history.send("chat_a", chat_setting(), chat("a"), collect());
  history.send("chat_a", chat_setting(), chat("b"), collect());
  history.tick(room_history::clock::now());
  EXPECT_TRUE(out.empty());
  history.tick(room_history::clock::now() + std::chrono::milliseconds(common::limits::history_wait_ms + 10));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(shown(out[0])["message"], "a");
  EXPECT_LT(id_of(out[0]), id_of(out[1]));
  EXPECT_EQ(history.counters().clock_only, 1u);
  // The late answer changes nothing.
  const auto late = info("99999999999999-5", "0-0", "1-0", 3);
  redis.answer(redis.named("EVAL")[0], late.get());
  EXPECT_EQ(out.size(), 2u);
}

TEST_F(RoomHistory, TooManyWaitingGoAtOnceInOrder) {
  for (std::size_t i = 0; i < common::limits::max_history_waiting; ++i) {
    history.send("chat_a", chat_setting(), chat("m"), collect());
  }
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(history.send("chat_a", chat_setting(), chat("last"), collect()));
  ASSERT_EQ(out.size(), common::limits::max_history_waiting + 1);
  EXPECT_EQ(shown(out.back())["message"], "last");
  EXPECT_LT(id_of(out[out.size() - 2]), id_of(out.back()));
}

TEST_F(RoomHistory, ARefusedAddOrASyncReadsTheLastIdAgain) {
  const auto none = R::nil();
  ready(none.get());
  const auto refused = R::error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
  redis.answer(redis.named("XADD")[0], refused.get());
  EXPECT_EQ(history.counters().store_failed, 1u);
  history.send("chat_a", chat_setting(), chat("again"), collect());
  EXPECT_EQ(redis.named("EVAL").size(), 2u);
  const auto ahead = info("99999999999999-0", "0-0", "1-0", 1);
  redis.answer(redis.named("EVAL")[1], ahead.get());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(id_of(out[1]), (common::stream_id{99999999999999, 1}));
  history.forget_ids();
  history.send("chat_a", chat_setting(), chat("after sync"), collect());
  EXPECT_EQ(redis.named("EVAL").size(), 3u);
}

TEST_F(RoomHistory, ForgettingManyRoomsKeepsTheOnesAReplyIsStillDueTo) {
  // Past 100,000 rooms a SYNC forgets them; an XADD's reply handler holds
  // its room, so a room with a reply due stays (and takes the reply).
  const auto none = R::nil();
  const auto ok = R::string("1-0");
  ready(none.get());
  ASSERT_EQ(redis.named("XADD").size(), 1u);
  auto pending = std::move(redis.calls[redis.named("XADD")[0]]);
  redis.calls.clear();
  const std::string event = chat("x");
  for (int i = 0; i < 100000; ++i) {
    const std::string group = "chat_r" + std::to_string(i);
    history.send(group, chat_setting(), event, [](const std::string&) {});
    for (std::size_t k = 0; k < redis.calls.size(); ++k) {  // answering the read adds the XADD
      if (redis.calls[k].done) redis.answer(k, redis.calls[k].args[0] == "EVAL" ? none.get() : ok.get());
    }
    redis.calls.clear();
  }
  ASSERT_EQ(history.rooms(), 100001u);
  history.forget_ids();
  EXPECT_EQ(history.rooms(), 1u);  // chat_a: its XADD is unanswered
  const auto refused = R::error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
  pending.done(refused->get());
  EXPECT_EQ(history.counters().store_failed, 1u);
  history.send("chat_a", chat_setting(), chat("again"), collect());
  EXPECT_EQ(redis.named("EVAL").size(), 1u);  // the refusal made it read the last id again
  history.forget_ids();
  EXPECT_EQ(history.rooms(), 1u);  // still loading
}

TEST_F(RoomHistory, RedisAwayMeansClockIdsAndCountedLosses) {
  redis.up = false;
  EXPECT_TRUE(history.send("chat_a", chat_setting(), chat("a"), collect()));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(shown(out[0]).contains("id"));
  EXPECT_EQ(history.counters().store_failed, 1u);
  bool called = false;
  history.read("chat_a", 5, "", [&](bool complete, std::vector<std::string> events) {
    called = true;
    EXPECT_FALSE(complete);
    EXPECT_TRUE(events.empty());
  });
  EXPECT_TRUE(called);
}

TEST_F(RoomHistory, TheLastKComeOldestFirstWithTheirIds) {
  const auto none = R::nil();
  ready(none.get());
  std::vector<std::string> got;
  history.read("chat_a", 2, "", [&](bool, std::vector<std::string> events) { got = std::move(events); });
  const auto rev = redis.named("XREVRANGE");
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(redis.calls[rev[0]].args,
            (redis_commands::argv{"XREVRANGE", "asgi:history:chat_a", "+", "-", "COUNT", "2"}));
  const auto reply = entries({{"5-1", chat("new")}, {"5-0", chat("old")}, {"4-0", "\x01 not an event"}});
  redis.answer(rev[0], reply.get());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(shown(got[0])["message"], "old");
  EXPECT_EQ(shown(got[0])["id"], "5-0");
  EXPECT_EQ(shown(got[1])["id"], "5-1");
}

struct since_case {
  const char* name;
  bool exists;
  const char* max_deleted;
  const char* first;
  std::size_t after;  // entries after since in the reply
  std::uint32_t count;
  bool complete;
};

TEST_F(RoomHistory, SinceSaysCompleteOnlyWhenNothingAfterItWasLost) {
  const auto none = R::nil();
  ready(none.get());
  for (const auto& c : {since_case{"all there", true, "0-0", "1-0", 3, 1000, true},
                        since_case{"trimmed before since", true, "9-0", "9-1", 3, 1000, true},
                        since_case{"trimmed past since", true, "10-1", "10-2", 3, 1000, false},
                        since_case{"another stream began after since", true, "0-0", "11-0", 3, 1000, false},
                        since_case{"no stream", false, "0-0", "0-0", 0, 1000, false},
                        since_case{"more than asked for", true, "0-0", "1-0", 3, 2, false},
                        since_case{"nothing missed", true, "0-0", "1-0", 0, 1000, true}}) {
    const auto first = redis.calls.size();
    bool complete = !c.complete;
    std::vector<std::string> got;
    history.read("chat_a", c.count, "10-0", [&](bool k, std::vector<std::string> events) {
      complete = k;
      got = std::move(events);
    });
    ASSERT_EQ(redis.calls.size(), first + 2) << c.name;
    EXPECT_EQ(redis.calls[first].args[0], "EVAL");
    EXPECT_EQ(redis.calls[first + 1].args,
              (redis_commands::argv{"XRANGE", "asgi:history:chat_a", "(10-0", "+", "COUNT", std::to_string(c.count + 1)}));
    const auto i = c.exists ? info("10-9", c.max_deleted, c.first, 5) : R::nil();
    redis.answer(first, i.get());
    std::vector<std::pair<std::string, std::string>> es;
    for (std::size_t k = 0; k < c.after; ++k) es.emplace_back("10-" + std::to_string(k + 1), chat("m"));
    const auto r = entries(es);
    redis.answer(first + 1, r.get());
    EXPECT_EQ(complete, c.complete) << c.name;
    EXPECT_EQ(got.size(), std::min<std::size_t>(c.after, c.count)) << c.name;
  }
}

TEST_F(RoomHistory, AReadWaitsBehindTheSendsBeforeIt) {
  history.send("chat_a", chat_setting(), chat("a"), collect());
  history.read("chat_a", 5, "", [](bool, std::vector<std::string>) {});
  EXPECT_TRUE(redis.named("XREVRANGE").empty());
  const auto none = R::nil();
  redis.answer(redis.named("EVAL")[0], none.get());
  ASSERT_EQ(redis.named("XADD").size(), 1u);
  ASSERT_EQ(redis.named("XREVRANGE").size(), 1u);
  EXPECT_LT(redis.named("XADD")[0], redis.named("XREVRANGE")[0]);  // pipelined after the add
}

TEST(RoomHistoryFields, AddsKeysToMapsOfEverySize) {
  for (int keys : {0, 1, 14, 15, 16, 70000}) {
    std::string json = R"({"type":"chat.message")";
    for (int k = 1; k < std::max(keys, 1); ++k) json += ",\"k" + std::to_string(k) + "\":1";
    json += "}";
    auto e = common::event_from_json_checked(json);
    if (!e.ok) continue;  // over the item bound: never reaches history
    auto out = room_history::with_fields(e.event, room_history::id_field("1-2") + room_history::id_field("3-4"), 2);
    ASSERT_TRUE(out) << keys;
    ASSERT_TRUE(common::check_event(*out).ok) << keys;
    const auto j = shown(*out);
    EXPECT_EQ(j["id"], "3-4");  // given twice: the later wins
  }
  // A key given again wins over the event's own, as in a Python dict.
  auto spoofed = common::event_from_json(R"({"type":"chat.message","message":"x","id":"999-9"})").value();
  EXPECT_EQ(shown(*room_history::with_fields(spoofed, room_history::id_field("1-0"), 1))["id"], "1-0");
  EXPECT_FALSE(room_history::with_fields("", "", 0));
  EXPECT_FALSE(room_history::with_fields("\x91\x01", "", 0));
}

}  // namespace
}  // namespace sb::layerd::testing
