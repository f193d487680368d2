// pages.cpp — the chat pages, as the seed's Django templates render them.
//
// The HTML is the seed's (gateway/pages/index.html and room.html, embedded
// at build time) so its script runs unchanged against a gateway; the room name is embedded the
// way Django's json_script filter does it, which keeps a name such as
// "</script><script>..." inert.
#include "gateway/pages.hpp"

#include <cstdio>

#include "common/names.hpp"

namespace sb::gateway {
namespace generated {  // pages_generated.cpp, made by CMake from gateway/pages/
extern const std::string_view index_html;
extern const std::string_view room_head;
extern const std::string_view room_tail;
}  // namespace generated

namespace {

using generated::index_html;
using generated::room_head;
using generated::room_tail;

void append_u16(std::string& out, unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u%04x", v);
  out += buf;
}

}  // namespace

std::string_view index_page() { return index_html; }

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

std::string room_page(std::string_view room) {
  std::string out;
  out.reserve(room_head.size() + room_tail.size() + 64 + room.size() * 6);
  out += room_head;
  out += "<script id=\"room-name\" type=\"application/json\">";
  out += json_script_string(room);
  out += "</script>";
  out += room_tail;
  return out;
}

}  // namespace sb::gateway
