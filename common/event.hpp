// event.hpp — Channels events: browser JSON in, msgpack events, browser JSON out.
//
// An event is a msgpack map with a string "type", exactly what a Django
// consumer would pass to group_send. Events travel between gateway and
// layerd as the msgpack bytes, untouched, so layerd never re-encodes and
// a Django process can read the same bytes. Everything here parses
// untrusted bytes, so it returns results and never throws.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace sb::common {

// The error a browser gets back in an error frame.
struct client_error {
  std::string code;    // "bad_json", "bad_message"
  std::string detail;  // one human sentence
};

// Turns a chat frame {"message": m} into the msgpack event
// {"type": "chat.message", "message": m}. Other keys are ignored, as the
// seed's consumer ignores them.
struct chat_parse {
  bool ok = false;
  std::string event;  // msgpack, when ok
  client_error error;  // when !ok
};
chat_parse chat_event_from_browser(std::string_view text);

// Checks that bytes are one msgpack map (nesting ≤ 32, nothing trailing)
// whose "type" is a string, and returns the type.
result<std::string> event_type(std::string_view msgpack_event);

// The text frame a browser receives for an event: `chat.message` (or
// `chat_message`, the same handler in Channels) becomes {"message": m}
// (the seed's form); any other type is the event as JSON,
// its "type" kept. Invalid UTF-8 is replaced, bin becomes base64-free
// nlohmann binary form. Fails only on malformed msgpack.
result<std::string> browser_frame_for_event(std::string_view msgpack_event);

// {"type":"error","code":...,"detail":...}
std::string error_frame(const client_error& e);

// Builds a msgpack event from a JSON object text (for tools and tests).
result<std::string> event_from_json(std::string_view json_text);

}  // namespace sb::common
