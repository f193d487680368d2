// pages.hpp — the chat pages: the chat page at /chat/ and /chat/<room>/
// (gateway/pages/chat_index.html, chat_room.html) and the seed's own pages
// at /classic/chat/ (index.html, room.html).
//
// Pure functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace sb::gateway {

std::string_view chat_index_page();
// The chat room page with `room` (UTF-8) embedded like Django's json_script.
std::string chat_room_page(std::string_view room);
// The seed's index and room pages, the same way.
std::string_view classic_index_page();
std::string classic_room_page(std::string_view room);
// JSON string literal as Python's json.dumps writes it (ensure_ascii), with
// Django's json_script escapes for <, > and &.
std::string json_script_string(std::string_view utf8);

}  // namespace sb::gateway
