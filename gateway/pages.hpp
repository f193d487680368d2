// pages.hpp — the chat index and room pages.
//
// Pure functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace sb::gateway {

std::string_view index_page();
// The room page with `room` (UTF-8) embedded like Django's json_script.
std::string room_page(std::string_view room);
// JSON string literal as Python's json.dumps writes it (ensure_ascii), with
// Django's json_script escapes for <, > and &.
std::string json_script_string(std::string_view utf8);

}  // namespace sb::gateway
