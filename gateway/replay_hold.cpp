// replay_hold.cpp — see replay_hold.hpp.
#include "gateway/replay_hold.hpp"

#include "common/event.hpp"
#include "common/limits.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {
namespace {

// The payload of an unmasked server frame (ws_frame.hpp builds them).
std::string_view payload_of(std::string_view f) {
  if (f.size() < 2) return {};
  const auto len = static_cast<unsigned char>(f[1]) & 0x7f;
  const std::size_t header = len < 126 ? 2 : len == 126 ? 4 : 10;
  return f.size() < header ? std::string_view() : f.substr(header);
}

}  // namespace

bool replay_hold::hold(frame f) {
  if (held_.size() >= common::limits::max_history_held || bytes_ + f->size() > max_bytes_) return false;
  bytes_ += f->size();
  held_.push_back(std::move(f));
  return true;
}

std::vector<replay_hold::frame> replay_hold::release(const std::optional<common::stream_id>& last,
                                                     std::size_t& dropped) {
  std::vector<frame> out;
  out.reserve(held_.size());
  dropped = 0;
  for (auto& f : held_) {
    if (last) {
      const auto id = frame_id(*f);
      if (id && *id <= *last) {
        ++dropped;
        continue;
      }
    }
    out.push_back(std::move(f));
  }
  held_.clear();
  bytes_ = 0;
  return out;
}

std::optional<common::stream_id> replay_hold::frame_id(std::string_view frame_bytes) {
  const auto json = payload_of(frame_bytes);
  // A chat line begins with "message"; its own "id" is the last one in it
  // (after "message" and "user", whose strings cannot hold an unescaped '"').
  constexpr std::string_view head = "{\"message\":";
  constexpr std::string_view key = "\"id\":\"";
  if (json.substr(0, head.size()) != head) return std::nullopt;
  const auto at = json.rfind(key);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + key.size();
  const auto end = json.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return common::parse_stream_id(json.substr(start, end - start));
}

common::result<replay_hold::frame> replay_hold::replay_frame(std::string_view event) {
  auto text = common::browser_frame_for_event(event);
  if (!text) return common::error{text.error_text()};
  std::string json = std::move(text.value());
  // Every event renders as a non-empty JSON object (it has a type, or is a chat line).
  if (json.size() < 2 || json.back() != '}') return common::error{"event is not shown as a JSON object"};
  json.pop_back();
  json += ",\"history\":true}";
  return ws::make_shared_text(json);
}

replay_hold::frame replay_hold::recovery_frame(bool complete, std::size_t count) {
  return ws::make_shared_text(std::string("{\"type\":\"recovery\",\"complete\":") + (complete ? "true" : "false") +
                              ",\"count\":" + std::to_string(count) + "}");
}

}  // namespace sb::gateway
