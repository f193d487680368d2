// pages.cpp — the chat pages, rendered as Django renders templates.
//
// The HTML is embedded at build time from gateway/pages/: the chat page
// (chat_index.html, chat_room.html) and the seed's (index.html, room.html)
// kept verbatim so its script runs unchanged against a gateway. The room
// name is embedded the way Django's json_script filter does it, which keeps
// a name such as "</script><script>..." inert.
#include "gateway/pages.hpp"

#include <cstdio>

#include "common/names.hpp"

namespace sb::gateway {
namespace generated {  // pages_generated.cpp, made by CMake from gateway/pages/
extern const std::string_view index_html;
extern const std::string_view room_head;
extern const std::string_view room_tail;
extern const std::string_view chat_index_html;
extern const std::string_view chat_room_head;
extern const std::string_view chat_room_tail;
}  // namespace generated

namespace {

void append_u16(std::string& out, unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u%04x", v);
  out += buf;
}

std::string room_page(std::string_view head, std::string_view room, std::string_view tail) {
  std::string out;
  out.reserve(head.size() + tail.size() + 64 + room.size() * 6);
  out += head;
  out += "<script id=\"room-name\" type=\"application/json\">";
  out += json_script_string(room);
  out += "</script>";
  out += tail;
  return out;
}

}  // namespace

std::string_view chat_index_page() { return generated::chat_index_html; }
std::string chat_room_page(std::string_view room) {
  return room_page(generated::chat_room_head, room, generated::chat_room_tail);
}
std::string_view classic_index_page() { return generated::index_html; }
std::string classic_room_page(std::string_view room) {
  return room_page(generated::room_head, room, generated::room_tail);
}

std::string json_script_string(std::string_view utf8) {
  // json.dumps(value) with ensure_ascii, then Django's <, >, & escapes.
  std::string out = "\"";
  auto cps = common::decode_utf8(utf8);
  if (!cps) return "\"\"";
  for (char32_t c : *cps) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '<': out += "\\u003C"; break;
      case '>': out += "\\u003E"; break;
      case '&': out += "\\u0026"; break;
      default:
        if (c < 0x20 || c > 0x7e) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            append_u16(out, 0xd800 + (v >> 10));
            append_u16(out, 0xdc00 + (v & 0x3ff));
          } else {
            append_u16(out, static_cast<unsigned>(c));
          }
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace sb::gateway
