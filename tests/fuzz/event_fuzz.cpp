// event_fuzz.cpp — libFuzzer target for the event checks and conversions.
//
// The input is taken both as msgpack (an event from a peer, Django or the
// API) and as JSON (the CLI and the API). Whatever check_event accepts must
// convert, to the same text as nlohmann's own (quadratic, but fine at this
// size) conversion would give; whatever event_from_json builds must pass
// check_event and read back as the JSON it came from. Nothing may crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "common/event.hpp"

namespace {

using ordered = nlohmann::ordered_json;
constexpr auto replace = nlohmann::json::error_handler_t::replace;

// What the browser gets for an event, computed from nlohmann's own tree.
std::string reference_frame(const ordered& ev) {
  const auto& type = ev.at("type").get_ref<const std::string&>();
  if (type == "chat.message" || type == "chat_message") {
    ordered out = ordered::object();
    auto it = ev.find("message");
    out["message"] = it != ev.end() ? *it : ordered(nullptr);
    return out.dump(-1, ' ', false, replace);
  }
  return ev.dump(-1, ' ', false, replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto check = sb::common::check_event(bytes);
  auto frame = sb::common::browser_frame_for_event(bytes);
  if (check.ok != static_cast<bool>(frame)) std::abort();
  if (check.ok) {
    const ordered ev = ordered::from_msgpack(bytes.begin(), bytes.end());
    if (reference_frame(ev) != frame.value()) std::abort();
  }

  auto built = sb::common::event_from_json_checked(bytes);
  if (built.ok) {
    auto again = sb::common::check_event(built.event);
    if (!again.ok) std::abort();
    const ordered parsed = ordered::parse(bytes.begin(), bytes.end());
    auto shown = sb::common::browser_frame_for_event(built.event);
    if (!shown || reference_frame(parsed) != shown.value()) std::abort();
  }
  return 0;
}
