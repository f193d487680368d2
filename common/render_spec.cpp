// render_spec.cpp — see render_spec.hpp.
#include "common/render_spec.hpp"

#include "common/event.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace sb::common {
namespace {

using handlers_t = std::vector<std::pair<std::string, std::vector<std::string>>>;

// Interned specs, held weakly: a spec no socket uses any more goes away,
// and its entry is swept on the next intern().
struct interner {
  std::mutex mu;
  std::map<handlers_t, std::weak_ptr<const render_spec>> specs;
};
interner& the_interner() {
  static interner i;
  return i;
}

bool good_name(const msgpack::object& o) {
  return o.type == msgpack::type::STR && o.via.str.size > 0 && o.via.str.size <= render_spec::max_name;
}

}  // namespace

const std::vector<std::string>* render_spec::fields_for(std::string_view event_type) const {
  if (handlers_.empty() || event_type.size() > max_name) return nullptr;
  std::string handler(event_type);
  std::replace(handler.begin(), handler.end(), '.', '_');
  auto it = std::lower_bound(handlers_.begin(), handlers_.end(), handler,
                             [](const auto& h, const std::string& name) { return h.first < name; });
  if (it == handlers_.end() || it->first != handler) return nullptr;
  return &it->second;
}

bool render_spec::renders(std::string_view msgpack_event, std::string_view event_type) const {
  const auto* fields = fields_for(event_type);
  if (!fields) return false;
  auto frame = fields_frame_for_event(msgpack_event, *fields);
  return frame && frame.value().has_value();
}

result<std::shared_ptr<const render_spec>> render_spec::from_msgpack(const msgpack::object& render) {
  if (render.type == msgpack::type::NIL) return intern({});
  if (render.type != msgpack::type::MAP) return error{"render is not a map"};
  const auto& m = render.via.map;
  if (m.size > max_handlers) return error{"render has more than " + std::to_string(max_handlers) + " handlers"};
  handlers_t handlers;
  handlers.reserve(m.size);
  for (std::uint32_t i = 0; i < m.size; ++i) {
    const auto& kv = m.ptr[i];
    if (!good_name(kv.key)) return error{"a render handler name is not a string of 1-100 bytes"};
    if (kv.val.type != msgpack::type::ARRAY) return error{"a render handler's fields are not an array"};
    const auto& a = kv.val.via.array;
    if (a.size > max_fields) return error{"a render handler has more than " + std::to_string(max_fields) + " fields"};
    std::vector<std::string> fields;
    fields.reserve(a.size);
    for (std::uint32_t j = 0; j < a.size; ++j) {
      if (!good_name(a.ptr[j])) return error{"a render field name is not a string of 1-100 bytes"};
      fields.emplace_back(a.ptr[j].via.str.ptr, a.ptr[j].via.str.size);
    }
    handlers.emplace_back(std::string(kv.key.via.str.ptr, kv.key.via.str.size), std::move(fields));
  }
  std::sort(handlers.begin(), handlers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < handlers.size(); ++i) {
    if (handlers[i].first == handlers[i - 1].first) return error{"render names a handler twice"};
  }
  return intern(std::move(handlers));
}

std::shared_ptr<const render_spec> render_spec::intern(handlers_t handlers) {
  std::sort(handlers.begin(), handlers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto& in = the_interner();
  std::lock_guard lock(in.mu);
  if (auto it = in.specs.find(handlers); it != in.specs.end()) {
    if (auto live = it->second.lock()) return live;
  }
  // Sweep the dead ones now and then (bounded by the live specs).
  for (auto it = in.specs.begin(); it != in.specs.end();) {
    it = it->second.expired() ? in.specs.erase(it) : std::next(it);
  }
  auto spec = std::make_shared<render_spec>();
  spec->handlers_ = handlers;
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(static_cast<std::uint32_t>(spec->handlers_.size()));
  for (const auto& [name, fields] : spec->handlers_) {
    pk.pack(name);
    pk.pack(fields);
  }
  spec->bytes_.assign(buf.data(), buf.size());
  std::shared_ptr<const render_spec> out = spec;
  in.specs[std::move(handlers)] = out;
  return out;
}

std::size_t render_spec::interned_count() {
  auto& in = the_interner();
  std::lock_guard lock(in.mu);
  std::size_t n = 0;
  for (const auto& [k, v] : in.specs) n += !v.expired();
  return n;
}

}  // namespace sb::common
