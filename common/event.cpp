// event.cpp — see event.hpp.
//
// Every path here is linear in its input. check_event walks the msgpack
// bytes once with msgpack-c's visitor parser (an explicit stack, no
// objects built); JSON is read with nlohmann's SAX parser (iterative too).
// Building a JSON value never goes through nlohmann's ordered_map lookups,
// whose inserts are linear each: maps are appended to, and a repeated key
// is found through a hash index, so a map of n keys costs O(n), not O(n²).
#include "common/event.hpp"

#include <unordered_map>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "common/limits.hpp"

namespace sb::common {
namespace {

using ordered = nlohmann::ordered_json;
namespace lim = limits;

// ---- check_event ----

// Walks one msgpack value, stopping at the first bound broken.
class bounds_visitor : public msgpack::null_visitor {
 public:
  bool visit_nil() { return scalar(false, nullptr, 0); }
  bool visit_boolean(bool) { return scalar(false, nullptr, 0); }
  bool visit_positive_integer(std::uint64_t) { return scalar(false, nullptr, 0); }
  bool visit_negative_integer(std::int64_t) { return scalar(false, nullptr, 0); }
  bool visit_float32(float) { return scalar(false, nullptr, 0); }
  bool visit_float64(double) { return scalar(false, nullptr, 0); }
  bool visit_str(const char* v, std::uint32_t n) { return scalar(true, v, n); }
  bool visit_bin(const char*, std::uint32_t) { return scalar(false, nullptr, 0); }
  bool visit_ext(const char*, std::uint32_t) { return scalar(false, nullptr, 0); }

  bool start_array(std::uint32_t n) { return container(false, n); }
  bool end_array() { return leave(); }
  bool start_map(std::uint32_t n) { return container(true, n); }
  bool start_map_key() {
    key_pending_ = true;
    return true;
  }
  bool end_map() { return leave(); }
  void parse_error(std::size_t, std::size_t) { fail("malformed msgpack"); }
  void insufficient_bytes(std::size_t, std::size_t) { fail("truncated msgpack"); }

  const std::string& problem() const { return problem_; }
  bool too_large() const { return too_large_; }
  bool has_type() const { return has_type_; }
  bool type_is_string() const { return type_is_string_; }
  const std::string& type() const { return type_; }

 private:
  bool fail(std::string why, bool too_large = false) {
    if (problem_.empty()) {
      problem_ = std::move(why);
      too_large_ = too_large;
    }
    return false;
  }
  // Any value: the event itself must be a map; a key must be a short
  // string; the value after the top-level key "type" is the type.
  bool scalar(bool is_str, const char* v, std::uint32_t n) {
    if (depth_ == 0) return fail("event is not a map");
    if (key_pending_) {
      key_pending_ = false;
      if (!is_str) return fail("a map key is not a string");
      if (n > lim::max_event_key_bytes) {
        return fail("a map key is over " + std::to_string(lim::max_event_key_bytes) + " bytes", true);
      }
      type_key_ = depth_ == 1 && std::string_view(v, n) == "type";
      return true;
    }
    if (type_key_) {  // a repeated "type": the last one counts, as in a Python dict
      type_key_ = false;
      has_type_ = true;
      type_is_string_ = is_str;
      if (is_str) type_.assign(v, n);
    }
    return true;
  }
  bool container(bool is_map, std::uint32_t n) {
    if (depth_ == 0 && !is_map) return fail("event is not a map");
    if (key_pending_) return fail("a map key is not a string");
    if (type_key_) {
      type_key_ = false;
      has_type_ = true;
      type_is_string_ = false;
    }
    if (++depth_ > lim::max_event_depth) {
      return fail("event nested deeper than " + std::to_string(lim::max_event_depth) + " levels");
    }
    items_ += n;  // each needs a byte at least, so this also stops bogus counts early
    if (items_ > lim::max_event_items) {
      return fail("event has over " + std::to_string(lim::max_event_items) + " map entries and array items", true);
    }
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }

  std::size_t depth_ = 0;
  std::size_t items_ = 0;
  bool key_pending_ = false;
  bool type_key_ = false;
  bool has_type_ = false;
  bool type_is_string_ = false;
  std::string type_;
  std::string problem_;
  bool too_large_ = false;
};

// ---- msgpack → JSON ----

// Unpacks one event that check_event passed; throws msgpack errors.
msgpack::object_handle unpack_checked(std::string_view bytes) {
  const msgpack::unpack_limit limit(lim::max_event_items, lim::max_event_items, lim::max_event_bytes,
                                    lim::max_event_bytes, lim::max_event_bytes, lim::max_event_depth);
  return msgpack::unpack(bytes.data(), bytes.size(), nullptr, nullptr, limit);
}

ordered to_json(const msgpack::object& o);

ordered map_to_json(const msgpack::object_map& m) {
  ordered out = ordered::object();
  // ordered_map is a vector of pairs underneath: append to it directly.
  auto& entries = static_cast<ordered::object_t::Container&>(out.get_ref<ordered::object_t&>());
  entries.reserve(m.size);
  // A repeated key keeps its first place and takes the last value. Small
  // maps are searched in place; bigger ones through a hash index.
  constexpr std::uint32_t small = 8;
  std::unordered_map<std::string_view, std::size_t> index;
  if (m.size > small) index.reserve(m.size);
  for (std::uint32_t i = 0; i < m.size; ++i) {
    const auto& kv = m.ptr[i];
    const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);  // string keys: check_event made sure
    std::size_t found = entries.size();
    if (m.size > small) {
      auto [it, fresh] = index.emplace(key, entries.size());
      if (!fresh) found = it->second;
    } else {
      for (std::size_t j = 0; j < entries.size(); ++j) {
        if (entries[j].first == key) {
          found = j;
          break;
        }
      }
    }
    if (found == entries.size()) {
      entries.emplace_back(std::string(key), to_json(kv.val));
    } else {
      entries[found].second = to_json(kv.val);
    }
  }
  return out;
}

ordered to_json(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN: {
      const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.bin.ptr);
      return ordered::binary(std::vector<std::uint8_t>(p, p + o.via.bin.size));
    }
    case msgpack::type::EXT: {
      const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.ext.data());
      return ordered::binary(std::vector<std::uint8_t>(p, p + o.via.ext.size),
                             static_cast<std::uint8_t>(o.via.ext.type()));
    }
    case msgpack::type::ARRAY: {
      ordered out = ordered::array();
      auto& items = out.get_ref<ordered::array_t&>();
      items.reserve(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) items.push_back(to_json(o.via.array.ptr[i]));
      return out;
    }
    case msgpack::type::MAP:
      return map_to_json(o.via.map);
  }
  return nullptr;
}

// A chat event's "user" as browsers see it: string id and name, boolean
// guest, nothing else (docs/protocol.md, Identity); {} when none is there.
ordered sender_json(const msgpack::object_map& m) {
  ordered out = ordered::object();
  for (std::uint32_t i = 0; i < m.size; ++i) {
    const auto& kv = m.ptr[i];
    const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
    const bool str = kv.val.type == msgpack::type::STR;
    if ((key == "id" || key == "name") && str) out[std::string(key)] = to_json(kv.val);
    if (key == "guest" && kv.val.type == msgpack::type::BOOLEAN) out["guest"] = kv.val.via.boolean;
  }
  return out;
}

// ---- JSON → msgpack ----

// Pass 1 over a JSON text: the size of every map and array, in the order
// they open, with the event bounds checked on the way. Pass 2 writes the
// msgpack with those sizes. Two linear passes, nothing built in between.
class json_sizes {
 public:
  std::vector<std::uint32_t> sizes;
  std::string problem;
  bool too_large = false;

  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(std::int64_t) { return value(); }
  bool number_unsigned(std::uint64_t) { return value(); }
  bool number_float(double, const std::string&) { return value(); }
  bool string(std::string&) { return value(); }
  bool binary(nlohmann::json::binary_t&) { return value(); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (k.size() > lim::max_event_key_bytes) {
      return fail("a map key is over " + std::to_string(lim::max_event_key_bytes) + " bytes", true);
    }
    return count();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    if (problem.empty()) problem = "not valid JSON";
    return false;
  }

 private:
  struct level {
    std::size_t index;
    bool is_map;
  };
  bool fail(std::string why, bool large) {
    problem = std::move(why);
    too_large = large;
    return false;
  }
  bool count() {
    ++sizes[open_.back().index];
    if (++items_ > lim::max_event_items) {
      return fail("event has over " + std::to_string(lim::max_event_items) + " map entries and array items", true);
    }
    return true;
  }
  bool value() {
    if (open_.empty()) return fail("event must be a JSON object", false);
    return open_.back().is_map || count();
  }
  bool open(bool is_map) {
    if (open_.empty() && (!sizes.empty() || !is_map)) return fail("event must be a JSON object", false);
    if (!open_.empty() && !value()) return false;
    if (open_.size() >= lim::max_event_depth) {
      return fail("event nested deeper than " + std::to_string(lim::max_event_depth) + " levels", false);
    }
    open_.push_back({sizes.size(), is_map});
    sizes.push_back(0);
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  std::vector<level> open_;
  std::size_t items_ = 0;
};

class msgpack_writer {
 public:
  explicit msgpack_writer(const std::vector<std::uint32_t>& sizes) : sizes_(sizes), pk_(buf_) {}
  std::string bytes() const { return std::string(buf_.data(), buf_.size()); }

  bool null() {
    pk_.pack_nil();
    return true;
  }
  bool boolean(bool b) {
    if (b) {
      pk_.pack_true();
    } else {
      pk_.pack_false();
    }
    return true;
  }
  bool number_integer(std::int64_t v) {
    pk_.pack_int64(v);
    return true;
  }
  bool number_unsigned(std::uint64_t v) {
    pk_.pack_uint64(v);
    return true;
  }
  bool number_float(double v, const std::string&) {
    pk_.pack_double(v);
    return true;
  }
  bool string(std::string& s) {
    pk_.pack(std::string_view(s));
    return true;
  }
  bool key(std::string& s) { return string(s); }
  bool binary(nlohmann::json::binary_t&) { return false; }  // JSON text has none
  bool start_object(std::size_t) {
    pk_.pack_map(sizes_[next_++]);
    return true;
  }
  bool start_array(std::size_t) {
    pk_.pack_array(sizes_[next_++]);
    return true;
  }
  bool end_object() { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  const std::vector<std::uint32_t>& sizes_;
  std::size_t next_ = 0;
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_;
};

// ---- the browser's chat frame ----

// Reads a frame for its top-level "message" and "type" (the last of
// each, as a dict would keep them) and nothing else; the rest is only
// checked to be JSON.
class chat_frame_reader {
 public:
  enum class message_kind { missing, string, other };
  bool is_object = false;
  message_kind kind = message_kind::missing;
  std::string message;
  bool type_is_ping = false;

  bool is_ping() const { return is_object && kind == message_kind::missing && type_is_ping; }

  bool null() { return value(false, nullptr); }
  bool boolean(bool) { return value(false, nullptr); }
  bool number_integer(std::int64_t) { return value(false, nullptr); }
  bool number_unsigned(std::uint64_t) { return value(false, nullptr); }
  bool number_float(double, const std::string&) { return value(false, nullptr); }
  bool string(std::string& s) { return value(true, &s); }
  bool binary(nlohmann::json::binary_t&) { return value(false, nullptr); }
  bool start_object(std::size_t) {
    if (depth_ == 0) is_object = true;
    value(false, nullptr);
    ++depth_;
    return true;
  }
  bool start_array(std::size_t) {
    value(false, nullptr);
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool end_array() { return end_object(); }
  bool key(std::string& k) {
    at_message_ = depth_ == 1 && k == "message";
    at_type_ = depth_ == 1 && k == "type";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  bool value(bool is_str, std::string* s) {
    if (at_type_) {
      at_type_ = false;
      type_is_ping = is_str && *s == "ping";
    }
    if (at_message_) {
      at_message_ = false;
      kind = is_str ? message_kind::string : message_kind::other;
      if (is_str) message = std::move(*s);
    }
    return true;
  }
  std::size_t depth_ = 0;
  bool at_message_ = false;
  bool at_type_ = false;
};

}  // namespace

chat_parse chat_event_from_browser(std::string_view text, const chat_sender* sender) {
  chat_parse out;
  chat_frame_reader r;
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &r)) {
    out.error = {"bad_json", "frame is not valid JSON"};
    return out;
  }
  if (!r.is_object) {
    out.error = {"bad_json", "frame must be a JSON object"};
    return out;
  }
  if (r.is_ping()) {
    out.ok = out.ping = true;
    return out;
  }
  if (r.kind == chat_frame_reader::message_kind::missing) {
    out.error = {"bad_message", "missing \"message\""};
    return out;
  }
  if (r.kind != chat_frame_reader::message_kind::string) {
    out.error = {"bad_message", "\"message\" must be a string"};
    return out;
  }
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(sender ? 3 : 2);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("chat.message"));
  pk.pack(std::string_view("message"));
  pk.pack(std::string_view(r.message));
  if (sender) {
    pk.pack(std::string_view("user"));
    pk.pack_map(sender->guest ? 3 : 2);
    pk.pack(std::string_view("id"));
    pk.pack(sender->id);
    pk.pack(std::string_view("name"));
    pk.pack(sender->name);
    if (sender->guest) {
      pk.pack(std::string_view("guest"));
      pk.pack(true);
    }
  }
  out.ok = true;
  out.event.assign(buf.data(), buf.size());
  return out;
}

bool is_ping_frame(std::string_view text) {
  chat_frame_reader r;
  return nlohmann::json::sax_parse(text.begin(), text.end(), &r) && r.is_ping();
}

event_check check_event(std::string_view bytes) {
  event_check out;
  if (bytes.size() > lim::max_event_bytes) {
    out.too_large = true;
    out.problem = "event is over " + std::to_string(lim::max_event_bytes) + " bytes";
    return out;
  }
  bounds_visitor v;
  std::size_t off = 0;
  const bool parsed = !bytes.empty() && msgpack::parse(bytes.data(), bytes.size(), off, v);
  if (!parsed) {
    out.problem = v.problem().empty() ? "malformed event" : v.problem();
    out.too_large = v.too_large();
    return out;
  }
  if (off != bytes.size()) {
    out.problem = "trailing bytes after the event";
  } else if (!v.has_type()) {
    out.problem = "event has no type";
  } else if (!v.type_is_string()) {
    out.problem = "event type is not a string";
  } else {
    out.ok = true;
    out.type = v.type();
  }
  return out;
}

result<std::string> event_type(std::string_view bytes) {
  auto c = check_event(bytes);
  if (!c.ok) return error{std::move(c.problem)};
  return std::move(c.type);
}

result<std::string> browser_frame_for_event(std::string_view bytes) {
  auto check = check_event(bytes);
  if (!check.ok) return error{std::move(check.problem)};
  try {
    auto oh = unpack_checked(bytes);
    const msgpack::object& ev = oh.get();
    constexpr auto replace = nlohmann::json::error_handler_t::replace;
    // Channels calls the handler named by the type with '.' replaced by
    // '_', so "chat.message" and the seed's own "chat_message" both reach
    // the chat consumer's chat_message, which sends {"message": m}.
    if (check.type == "chat.message" || check.type == "chat_message") {
      // The last of a repeated key, as Python's dict would have it.
      const msgpack::object* message = nullptr;
      const msgpack::object* user = nullptr;
      const msgpack::object* id = nullptr;
      const msgpack::object* ts = nullptr;
      for (std::uint32_t i = 0; i < ev.via.map.size; ++i) {
        const auto& kv = ev.via.map.ptr[i];
        const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
        if (key == "message") message = &kv.val;
        if (key == "user") user = &kv.val;
        if (key == "id") id = &kv.val;
        if (key == "ts") ts = &kv.val;
      }
      ordered out = ordered::object();
      out["message"] = message ? to_json(*message) : ordered(nullptr);
      if (user && user->type == msgpack::type::MAP) {
        if (auto u = sender_json(user->via.map); !u.empty()) out["user"] = std::move(u);
      }
      if (id && id->type == msgpack::type::STR) out["id"] = to_json(*id);
      if (ts && (ts->type == msgpack::type::POSITIVE_INTEGER || ts->type == msgpack::type::NEGATIVE_INTEGER)) {
        out["ts"] = to_json(*ts);
      }
      return out.dump(-1, ' ', false, replace);
    }
    return to_json(ev).dump(-1, ' ', false, replace);
  } catch (const std::exception& e) {
    return error{std::string("event cannot be shown as JSON: ") + e.what()};
  }
}

result<std::optional<std::string>> fields_frame_for_event(std::string_view bytes,
                                                          const std::vector<std::string>& fields) {
  auto check = check_event(bytes);
  if (!check.ok) return error{std::move(check.problem)};
  try {
    auto oh = unpack_checked(bytes);
    const msgpack::object& ev = oh.get();
    ordered out = ordered::object();
    for (const auto& f : fields) {
      // The last of a repeated key, as Python's dict would have it.
      const msgpack::object* value = nullptr;
      for (std::uint32_t i = 0; i < ev.via.map.size; ++i) {
        const auto& kv = ev.via.map.ptr[i];
        if (std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == f) value = &kv.val;
      }
      if (!value) return std::optional<std::string>();
      out[f] = to_json(*value);
    }
    return std::optional<std::string>(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } catch (const std::exception& e) {
    return error{std::string("event cannot be shown as JSON: ") + e.what()};
  }
}

std::string error_frame(const client_error& e) {
  ordered out = {{"type", "error"}, {"code", e.code}, {"detail", e.detail}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

json_event event_from_json_checked(std::string_view json_text) {
  json_event out;
  json_sizes sizes;
  if (!nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &sizes)) {
    out.problem = sizes.problem.empty() ? "not valid JSON" : sizes.problem;
    out.too_large = sizes.too_large;
    return out;
  }
  if (sizes.sizes.empty()) {
    out.problem = "event must be a JSON object";
    return out;
  }
  msgpack_writer w(sizes.sizes);
  if (!nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &w)) {
    out.problem = "not valid JSON";
    return out;
  }
  std::string bytes = w.bytes();
  auto check = check_event(bytes);
  if (!check.ok) {
    out.too_large = check.too_large;
    out.problem = check.problem == "event has no type" || check.problem == "event type is not a string"
                      ? "event needs a string \"type\""
                      : check.problem;
    return out;
  }
  out.ok = true;
  out.event = std::move(bytes);
  return out;
}

result<std::string> event_from_json(std::string_view json_text) {
  auto e = event_from_json_checked(json_text);
  if (!e.ok) return error{std::move(e.problem)};
  return std::move(e.event);
}

}  // namespace sb::common
