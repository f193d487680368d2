// pages.cpp — the chat pages, as the seed's Django templates render them.
//
// The HTML is the seed's (shared/seed/index.html and room.html) so its
// script runs unchanged against a gateway; the room name is embedded the
// way Django's json_script filter does it, which keeps a name such as
// "</script><script>..." inert.
#include "gateway/pages.hpp"

#include <cstdio>

#include "common/names.hpp"

namespace sb::gateway {
namespace {

constexpr std::string_view index_html = R"SB(<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8"/>
    <title>Chat Rooms</title>
</head>
<body>
    What chat room would you like to enter?<br>
    <input id="room-name-input" type="text" size="100"><br>
    <input id="room-name-submit" type="button" value="Enter">

    <script>
        document.querySelector('#room-name-input').focus();
        document.querySelector('#room-name-input').onkeyup = function(e) {
            if (e.keyCode === 13) {  // enter, return
                document.querySelector('#room-name-submit').click();
            }
        };

        document.querySelector('#room-name-submit').onclick = function(e) {
            var roomName = document.querySelector('#room-name-input').value;
            window.location.pathname = '/chat/' + roomName + '/';
        };
    </script>
</body>
</html>
)SB";

constexpr std::string_view room_head = R"SB(<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8"/>
    <title>Chat Room</title>
</head>
<body>
    <textarea id="chat-log" cols="100" rows="20"></textarea><br>
    <input id="chat-message-input" type="text" size="100"><br>
    <input id="chat-message-submit" type="button" value="Send">
    )SB";

constexpr std::string_view room_tail = R"SB(
    <script>
        const roomName = JSON.parse(document.getElementById('room-name').textContent);

        const chatSocket = new WebSocket(
            'ws://'
            + window.location.host
            + '/ws/chat/'
            + roomName
            + '/'
        );

        chatSocket.onmessage = function(e) {
            const data = JSON.parse(e.data);
            document.querySelector('#chat-log').value += (data.message + '\n');
        };

        chatSocket.onclose = function(e) {
            console.error('Chat socket closed unexpectedly');
        };

        document.querySelector('#chat-message-input').focus();
        document.querySelector('#chat-message-input').onkeyup = function(e) {
            if (e.keyCode === 13) {  // enter, return
                document.querySelector('#chat-message-submit').click();
            }
        };

        document.querySelector('#chat-message-submit').onclick = function(e) {
            const messageInputDom = document.querySelector('#chat-message-input');
            const message = messageInputDom.value;
            chatSocket.send(JSON.stringify({
                'message': message
            }));
            messageInputDom.value = '';
        };
    </script>
</body>
</html>
)SB";

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
