// event_delivery.cpp — see event_delivery.hpp.
#include "gateway/event_delivery.hpp"

#include <algorithm>

#include "common/event.hpp"
#include "gateway/consumer.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {

void event_delivery::forward_to(const std::string& worker, const std::string& socket) {
  for (auto& [w, sockets] : forward) {
    if (w == worker) return sockets.push_back(socket);
  }
  forward.emplace_back(worker, std::vector<std::string>{socket});
}

bool event_delivery::forwarded_by_layerd(std::uint64_t conn) const {
  return by_layerd && std::binary_search(by_layerd->begin(), by_layerd->end(), conn);
}

std::shared_ptr<const std::string> event_delivery::builtin_frame() {
  if (!builtin_rendered) {
    builtin_rendered = true;
    if (auto f = consumer::render(*event)) builtin = std::move(f.value());
  }
  return builtin;
}

std::shared_ptr<const std::string> event_delivery::frame_for(const common::render_spec& spec) {
  if (spec.empty()) return nullptr;
  for (const auto& [s, frame] : frames) {
    if (s == &spec) return frame;
  }
  if (!type) {
    auto t = common::event_type(*event);
    type = t ? t.value() : std::string();
  }
  std::shared_ptr<const std::string> frame;
  if (const auto* fields = type->empty() ? nullptr : spec.fields_for(*type)) {
    auto text = common::fields_frame_for_event(*event, *fields);
    if (text && text.value()) frame = ws::make_shared_text(*text.value());
  }
  frames.emplace_back(&spec, frame);
  return frame;
}

}  // namespace sb::gateway
