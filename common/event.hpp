// event.hpp — Channels events: browser JSON in, msgpack events, browser JSON out.
//
// An event is a msgpack map with a string "type", exactly what a Django
// consumer would pass to group_send. Events travel between gateway and
// layerd as the msgpack bytes, untouched, so layerd never re-encodes and
// a Django process can read the same bytes. Everything here parses
// untrusted bytes, so it returns results and never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sb::common {

// The error a browser gets back in an error frame.
struct client_error {
  std::string code;    // "bad_json", "bad_message"
  std::string detail;  // one human sentence
};

// Who sent a chat message, as the gateway knows it (never from the frame).
struct chat_sender {
  std::string_view id;
  std::string_view name;
  bool guest = false;
};

// Turns a chat frame {"message": m} into the msgpack event
// {"type": "chat.message", "message": m}, plus, with a sender,
// "user": {"id": .., "name": .. [, "guest": true]}. Other keys are
// ignored, as the seed's consumer ignores them (a "user" in the frame
// too: the sender is stamped by the server).
//
// The same single pass reads the heartbeat (docs/protocol.md, Heartbeat):
// an object without a top-level "message" whose top-level "type" (the
// last one, as a dict keeps it) is exactly "ping" is a ping, whatever
// else it holds: ok, `ping` set, no event. A frame with a "message" is a
// chat message whatever its "type", as the seed's consumer reads only
// "message"; any other "type" without one is bad_message, as before.
struct chat_parse {
  bool ok = false;
  bool ping = false;   // when ok: answer {"type": "pong"}, send nothing
  std::string event;   // msgpack, when ok and not a ping
  client_error error;  // when !ok
};
chat_parse chat_event_from_browser(std::string_view text, const chat_sender* sender = nullptr);

// Whether a frame is a ping by chat_event_from_browser's rule, for a
// socket that takes nothing else (the notification socket). One pass,
// nothing built.
bool is_ping_frame(std::string_view text);

// The heartbeat's answer, the same bytes on every socket.
inline constexpr std::string_view pong_frame = R"({"type":"pong"})";

// The check every door makes before any other work on an event (an
// outsider can send one: a browser's peer on layerd's port, a Django app,
// the CLI, the HTTP API). One pass over the bytes, without building
// anything: one msgpack map with string keys, nothing trailing, a string
// "type", and within common/limits.hpp's event bounds (bytes, depth,
// items, key length). Its cost is linear in the size and bounded by
// max_event_bytes.
struct event_check {
  bool ok = false;
  bool too_large = false;  // a size bound broken (bytes or items): HTTP 413 rather than 400
  std::string type;        // when ok
  std::string problem;     // when !ok: one sentence, naming the bound broken
};
event_check check_event(std::string_view msgpack_event);

// check_event's type, or its problem as the error.
result<std::string> event_type(std::string_view msgpack_event);

// The text frame a browser receives for an event: `chat.message` (or
// `chat_message`, the same handler in Channels) becomes {"message": m}
// (the seed's form), followed when the event has them by "user" (a map:
// only its string id and name and boolean guest), "id" (a string) and
// "ts" (an integer) — docs/protocol.md, Identity; any other type is the event as JSON, its "type" kept
// and its keys in their order (a key given twice: the last value, in the
// first one's place, as Python's dict would have it). Invalid UTF-8 is
// replaced, bin becomes nlohmann's binary form. Fails on what check_event
// refuses. Time linear in the event's size.
result<std::string> browser_frame_for_event(std::string_view msgpack_event);

// The frame a handler that forwards only `fields` would send for an
// event: {"f1": v1, "f2": v2, ...} in `fields`' order, values converted as
// browser_frame_for_event does (compact JSON). nullopt when the event
// lacks one of the fields (then the handler itself must run:
// docs/protocol.md, Part 3, Fast path). Fails on what check_event refuses.
// Time linear in the event's size.
result<std::optional<std::string>> fields_frame_for_event(std::string_view msgpack_event,
                                                          const std::vector<std::string>& fields);

// {"type":"error","code":...,"detail":...}
std::string error_frame(const client_error& e);

// Builds a msgpack event from a JSON object text (the CLI, layerd's HTTP
// API, tests): keys keep their order, and the result passed check_event.
// Time linear in the text; the event bounds are checked while parsing, so
// a text breaking them costs no more than reading it.
struct json_event {
  bool ok = false;
  bool too_large = false;  // as event_check
  std::string event;       // msgpack, when ok
  std::string problem;     // when !ok
};
json_event event_from_json_checked(std::string_view json_text);
// The same, as a result (the problem as its error).
result<std::string> event_from_json(std::string_view json_text);

}  // namespace sb::common
