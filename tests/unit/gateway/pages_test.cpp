// pages_test.cpp — the room page embeds the name as Django's json_script does.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/pages.hpp"

namespace sb::gateway {
namespace {

TEST(JsonScript, MatchesPythonJsonDumpsWithDjangoEscapes) {
  // Expected strings come from Django 3.2's json_script on the same input.
  EXPECT_EQ(json_script_string("lobby"), "\"lobby\"");
  EXPECT_EQ(json_script_string("</script><script>alert(1)</script>"),
            "\"\\u003C/script\\u003E\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E\"");
  EXPECT_EQ(json_script_string("a&b\"c\\"), "\"a\\u0026b\\\"c\\\\\"");
  EXPECT_EQ(json_script_string("로비"), "\"\\ub85c\\ube44\"");
  EXPECT_EQ(json_script_string("\xF0\x9F\x98\x80"), "\"\\ud83d\\ude00\"");
  EXPECT_EQ(json_script_string("\n\t\x01"), "\"\\n\\t\\u0001\"");
}

TEST(RoomPage, EmbedsTheNameSoItCannotBreakOut) {
  const std::string name = "</script><script>alert(1)</script>";
  for (const std::string& page : {classic_room_page(name), chat_room_page(name)}) {
  const std::string open = "<script id=\"room-name\" type=\"application/json\">";
  auto start = page.find(open);
  ASSERT_NE(start, std::string::npos);
  start += open.size();
  auto end = page.find("</script>", start);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(page.substr(start, end - start)), name);
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  }
}

TEST(RoomPage, TheClassicPagesKeepTheSeedScript) {
  const std::string page = classic_room_page("lobby");
  EXPECT_NE(page.find("JSON.parse(document.getElementById('room-name').textContent)"), std::string::npos);
  EXPECT_NE(page.find("'/ws/chat/'"), std::string::npos);
  EXPECT_NE(std::string(classic_index_page()).find("'/classic/chat/'"), std::string::npos);
}

TEST(RoomPage, TheChatPageNeverPutsReceivedTextIntoHtml) {
  const std::string page = chat_room_page("lobby");
  EXPECT_NE(page.find("'/ws/chat/'"), std::string::npos);
  EXPECT_NE(page.find("'/ws-check'"), std::string::npos);
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("}) {
    EXPECT_EQ(page.find(sink), std::string::npos) << sink;
  }
  EXPECT_NE(std::string(chat_index_page()).find("room-name-input"), std::string::npos);
}

}  // namespace
}  // namespace sb::gateway
