// replay_hold_test.cpp — live lines held during a replay come out in order,
// without the ones the replay already had; replayed lines are marked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "gateway/replay_hold.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {
namespace {

std::string payload(const std::string& frame) {
  // Server frames are unmasked; read the payload after the header ourselves.
  const auto len = static_cast<unsigned char>(frame[1]) & 0x7f;
  const std::size_t header = len < 126 ? 2 : len == 126 ? 4 : 10;
  return frame.substr(header);
}

replay_hold::frame chat_line(const std::string& id, const std::string& text = "hi") {
  auto event = common::event_from_json(R"({"type":"chat.message","message":")" + text +
                                       R"(","user":{"id":"u-1","name":"Ann"},"id":")" + id + R"(","ts":5})")
                   .value();
  return ws::make_shared_text(common::browser_frame_for_event(event).value());
}

TEST(ReplayHold, ReadsTheLinesOwnIdNotTheUsers) {
  auto id = replay_hold::frame_id(*chat_line("17-3"));
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (common::stream_id{17, 3}));
  // a message that looks like an id inside its text is escaped, not read
  EXPECT_EQ(*replay_hold::frame_id(*chat_line("20-0", R"(\"id\":\"99-9\")")), (common::stream_id{20, 0}));
  EXPECT_FALSE(replay_hold::frame_id(*ws::make_shared_text(R"({"type":"notify","id":"5-5"})")));
  EXPECT_FALSE(replay_hold::frame_id(*ws::make_shared_text(R"({"message":"no id"})")));
  EXPECT_FALSE(replay_hold::frame_id(""));
}

TEST(ReplayHold, ReleasesInOrderWithoutWhatTheReplayHad) {
  replay_hold hold(1 << 20);
  for (const char* id : {"10-0", "11-0", "12-0", "13-0"}) ASSERT_TRUE(hold.hold(chat_line(id)));
  ASSERT_TRUE(hold.hold(ws::make_shared_text(R"({"type":"error","code":"bad_json"})")));
  std::size_t dropped = 0;
  auto out = hold.release(common::stream_id{11, 0}, dropped);
  EXPECT_EQ(dropped, 2u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(*replay_hold::frame_id(*out[0]), (common::stream_id{12, 0}));
  EXPECT_EQ(*replay_hold::frame_id(*out[1]), (common::stream_id{13, 0}));
  EXPECT_EQ(payload(*out[2]), R"({"type":"error","code":"bad_json"})");
  EXPECT_EQ(hold.size(), 0u);
}

TEST(ReplayHold, WithNothingReplayedKeepsEverything) {
  replay_hold hold(1 << 20);
  hold.hold(chat_line("1-0"));
  hold.hold(chat_line("2-0"));
  std::size_t dropped = 7;
  EXPECT_EQ(hold.release(std::nullopt, dropped).size(), 2u);
  EXPECT_EQ(dropped, 0u);
}

TEST(ReplayHold, IsBoundedInFramesAndBytes) {
  replay_hold small(100);
  EXPECT_TRUE(small.hold(chat_line("1-0")));
  EXPECT_FALSE(small.hold(chat_line("2-0", std::string(200, 'x'))));
  replay_hold many(1 << 30);
  const auto f = chat_line("1-0");
  std::size_t kept = 0;
  for (int i = 0; i < 5000; ++i) kept += many.hold(f) ? 1 : 0;
  EXPECT_EQ(kept, common::limits::max_history_held);
}

TEST(ReplayHold, AReplayedLineIsTheLiveLinePlusHistoryTrue) {
  auto event = common::event_from_json(R"({"type":"chat.message","message":"m","id":"4-1","ts":9})").value();
  auto f = replay_hold::replay_frame(event);
  ASSERT_TRUE(f);
  auto j = nlohmann::json::parse(payload(*f.value()));
  EXPECT_EQ(j, nlohmann::json::parse(R"({"message":"m","id":"4-1","ts":9,"history":true})"));
  EXPECT_FALSE(replay_hold::replay_frame("\x01"));
  EXPECT_EQ(payload(*replay_hold::recovery_frame(false, 3)), R"({"type":"recovery","complete":false,"count":3})");
  EXPECT_EQ(payload(*replay_hold::recovery_frame(true, 0)), R"({"type":"recovery","complete":true,"count":0})");
}

}  // namespace
}  // namespace sb::gateway
