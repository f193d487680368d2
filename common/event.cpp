// event.cpp — see event.hpp.
//
// msgpack-c validates structure first (with depth and size limits, so a
// hostile event cannot exhaust the stack), then nlohmann converts to JSON.
#include "common/event.hpp"

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "common/limits.hpp"

namespace sb::common {
namespace {

using ordered = nlohmann::ordered_json;

constexpr std::size_t max_depth = 32;

// Unpacks exactly one object from bytes, with limits; throws msgpack errors.
msgpack::object_handle unpack_one(std::string_view bytes) {
  // Counts above the byte length are impossible (one byte per element at
  // least); bounding them stops bogus headers from reserving memory.
  const msgpack::unpack_limit limit(/*array*/ bytes.size(), /*map*/ bytes.size() / 2, /*str*/ limits::max_event_bytes,
                                    /*bin*/ limits::max_event_bytes, /*ext*/ limits::max_event_bytes, max_depth);
  std::size_t off = 0;
  auto oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
  if (off != bytes.size()) throw std::runtime_error("trailing bytes after the event");
  return oh;
}

}  // namespace

chat_parse chat_event_from_browser(std::string_view text) {
  chat_parse out;
  ordered doc = ordered::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    out.error = {"bad_json", "frame is not valid JSON"};
    return out;
  }
  if (!doc.is_object()) {
    out.error = {"bad_json", "frame must be a JSON object"};
    return out;
  }
  auto it = doc.find("message");
  if (it == doc.end()) {
    out.error = {"bad_message", "missing \"message\""};
    return out;
  }
  if (!it->is_string()) {
    out.error = {"bad_message", "\"message\" must be a string"};
    return out;
  }
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  const auto& m = it->get_ref<const std::string&>();
  pk.pack_map(2);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("chat.message"));
  pk.pack(std::string_view("message"));
  pk.pack(std::string_view(m));
  out.ok = true;
  out.event.assign(buf.data(), buf.size());
  return out;
}

result<std::string> event_type(std::string_view bytes) {
  try {
    auto oh = unpack_one(bytes);
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::MAP) return error{"event is not a map"};
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && kv.key.as<std::string_view>() == "type") {
        if (kv.val.type != msgpack::type::STR) return error{"event type is not a string"};
        return std::string(kv.val.as<std::string_view>());
      }
    }
    return error{"event has no type"};
  } catch (const std::exception& e) {
    return error{std::string("malformed event: ") + e.what()};
  }
}

result<std::string> browser_frame_for_event(std::string_view bytes) {
  auto type = event_type(bytes);
  if (!type) return error{type.error_text()};
  try {
    ordered ev = ordered::from_msgpack(bytes.begin(), bytes.end());
    constexpr auto replace = nlohmann::json::error_handler_t::replace;
    // Channels calls the handler named by the type with '.' replaced by
    // '_', so "chat.message" and the seed's own "chat_message" both reach
    // the chat consumer's chat_message, which sends {"message": m}.
    if (type.value() == "chat.message" || type.value() == "chat_message") {
      ordered out = ordered::object();
      auto it = ev.find("message");
      out["message"] = it != ev.end() ? *it : ordered(nullptr);
      return out.dump(-1, ' ', false, replace);
    }
    return ev.dump(-1, ' ', false, replace);
  } catch (const std::exception& e) {
    return error{std::string("event cannot be shown as JSON: ") + e.what()};
  }
}

std::string error_frame(const client_error& e) {
  ordered out = {{"type", "error"}, {"code", e.code}, {"detail", e.detail}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

result<std::string> event_from_json(std::string_view json_text) {
  ordered doc = ordered::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (doc.is_discarded()) return error{"not valid JSON"};
  if (!doc.is_object()) return error{"event must be a JSON object"};
  auto it = doc.find("type");
  if (it == doc.end() || !it->is_string()) return error{"event needs a string \"type\""};
  auto bytes = ordered::to_msgpack(doc);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace sb::common
