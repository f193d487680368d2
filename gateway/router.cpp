// router.cpp — see router.hpp.
#include "gateway/router.hpp"

#include <algorithm>
#include <cctype>

#include "common/names.hpp"
#include "gateway/chat_consumer.hpp"
#include "gateway/notification_consumer.hpp"

namespace sb::gateway {
namespace {

// The built-in consumers a --route KIND names.
struct builtin_kind {
  std::string_view name;
  consumer::factory make;
};
constexpr builtin_kind builtin_kinds[] = {
    {"chat", &chat_consumer::make},
    {"notification", &notification_consumer::make},
};

// A room name is at most 100 code points of at most 4 UTF-8 bytes, each
// byte at most "%XX": a longer raw segment cannot match, whatever it holds.
constexpr std::size_t max_raw_name_segment = 100 * 4 * 3;
constexpr std::size_t max_pattern_size = 1000;

// Decodes one path segment as the tutorial's (?P<room_name>\w+) sees it:
// percent-decoded, strict UTF-8, 1-100 \w code points. A '/' that arrives
// percent-encoded stays inside the segment (and is not \w).
bool decode_word_segment(std::string_view seg, std::string& out) {
  if (seg.empty() || seg.size() > max_raw_name_segment) return false;
  auto decoded = common::percent_decode(seg);
  if (!decoded || !common::is_valid_room_name(*decoded)) return false;
  out = std::move(*decoded);
  return true;
}

// If path is prefix + one non-empty segment + "/", the decoded segment
// (the room page shows any name; only WebSocket rooms are limited to \w).
bool room_page_segment(std::string_view path, std::string_view prefix, std::string& out) {
  if (path.size() <= prefix.size() + 1 || path.substr(0, prefix.size()) != prefix || path.back() != '/') return false;
  std::string_view seg = path.substr(prefix.size(), path.size() - prefix.size() - 1);
  if (seg.find('/') != std::string_view::npos) return false;
  auto decoded = common::percent_decode(seg);
  if (!decoded || decoded->empty() || !common::decode_utf8(*decoded)) return false;
  out = std::move(*decoded);
  return true;
}

// One pass over the path; kwargs are appended to r.kwargs (cleared on a miss).
bool match_entry(std::string_view path, const route_table::entry& e, route& r) {
  std::size_t pos = 1;  // after the leading '/'
  for (const auto& seg : e.segments) {
    const std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) return false;
    const std::string_view raw = path.substr(pos, slash - pos);
    if (!seg.is_name) {
      if (raw != seg.text) return false;
    } else {
      std::string value;
      if (!decode_word_segment(raw, value)) return false;
      r.kwargs.push_back({seg.text, std::move(value)});
    }
    pos = slash + 1;
  }
  return pos == path.size();
}

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Literal segments are compared with the raw request path, so they are
// limited to characters a client never needs to percent-encode.
bool is_plain_literal(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

// Why a pattern outside /ws/ is refused: it would shadow or be shadowed
// by the gateway's own pages (match_route serves those first).
std::string outside_ws(std::string_view pattern) {
  auto starts = [&](std::string_view p) { return pattern.substr(0, p.size()) == p; };
  if (pattern == "/") return "collides with the gateway's redirect at /";
  if (starts("/chat/")) return "collides with the gateway's chat pages under /chat/";
  if (starts("/classic/")) return "collides with the gateway's classic chat pages under /classic/";
  if (starts("/ws-check/")) return "collides with the gateway's /ws-check/";
  if (starts("/healthz")) return "collides with the gateway's /healthz";
  if (starts("/metrics")) return "collides with the gateway's /metrics";
  return "must start with /ws/";
}

// Parses one "PATTERN KIND"; error says why, without the value (the caller names it).
std::optional<route_table::entry> parse_spec(std::string_view spec, std::string& shape, std::string& error) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!spec.empty() && is_space(spec.front())) spec.remove_prefix(1);
  while (!spec.empty() && is_space(spec.back())) spec.remove_suffix(1);
  const auto gap = std::find_if(spec.begin(), spec.end(), is_space) - spec.begin();
  const std::string_view pattern = spec.substr(0, gap);
  std::string_view kind = spec.substr(std::min<std::size_t>(gap, spec.size()));
  while (!kind.empty() && is_space(kind.front())) kind.remove_prefix(1);
  // An optional third word: auth=django:NAME.
  const auto kind_end = std::find_if(kind.begin(), kind.end(), is_space) - kind.begin();
  std::string_view gate = kind.substr(std::min<std::size_t>(kind_end, kind.size()));
  kind = kind.substr(0, kind_end);
  while (!gate.empty() && is_space(gate.front())) gate.remove_prefix(1);
  if (pattern.empty() || kind.empty() || std::any_of(gate.begin(), gate.end(), is_space)) {
    error = "expected PATTERN KIND [auth=django:NAME], e.g. '/ws/chat/<room_name>/ chat'";
    return std::nullopt;
  }
  route_table::entry e;
  constexpr std::string_view django_prefix = "django:";
  constexpr std::string_view gate_prefix = "auth=django:";
  if (!gate.empty()) {
    const std::string_view name = gate.substr(std::min(gate.size(), gate_prefix.size()));
    if (gate.substr(0, gate_prefix.size()) != gate_prefix) {
      error = "expected PATTERN KIND [auth=django:NAME], e.g. '/ws/chat/<room_name>/ chat', got \"" + std::string(gate) + "\" after KIND";
      return std::nullopt;
    }
    if (kind.substr(0, django_prefix.size()) == django_prefix) {
      error = "auth=django:NAME gates a built-in kind (chat, notification); a django: route's consumer is its own gate";
      return std::nullopt;
    }
    if (name.empty() || !common::is_valid_channel_name(name) || name.find('!') != std::string_view::npos) {
      error = "auth=django:NAME needs a channel name (ASCII letters, digits, '-', '_', '.', fewer than 100), got \"" +
              std::string(name) + "\"";
      return std::nullopt;
    }
    e.gate_channel = std::string(name);
  }
  if (kind.substr(0, django_prefix.size()) == django_prefix) {
    // NAME is the worker channel `runworker NAME` reads: a plain channel
    // name (no '!', which marks a process-local channel).
    const std::string_view name = kind.substr(django_prefix.size());
    if (name.empty() || !common::is_valid_channel_name(name) || name.find('!') != std::string_view::npos) {
      error = "django:NAME needs a channel name (ASCII letters, digits, '-', '_', '.', fewer than 100), got \"" +
              std::string(name) + "\"";
      return std::nullopt;
    }
    e.django_channel = std::string(name);
  }
  for (const auto& b : builtin_kinds) {
    if (b.name == kind) e.make = b.make;
  }
  if (!e.make && e.django_channel.empty()) {
    error = "unknown kind \"" + std::string(kind) + "\" (known: chat, notification, django:NAME)";
    return std::nullopt;
  }
  if (pattern.size() > max_pattern_size) {
    error = "pattern longer than " + std::to_string(max_pattern_size) + " bytes";
    return std::nullopt;
  }
  if (pattern.front() != '/' || pattern.back() != '/') {
    error = "pattern must start and end with '/'";
    return std::nullopt;
  }
  if (pattern.substr(0, 4) != "/ws/") {
    error = "pattern " + outside_ws(pattern) + " (route patterns must start with /ws/)";
    return std::nullopt;
  }
  std::size_t names = 0;
  shape.clear();
  for (std::size_t pos = 1; pos < pattern.size();) {
    const std::size_t slash = pattern.find('/', pos);
    const std::string_view seg = pattern.substr(pos, slash - pos);
    pos = slash + 1;
    if (seg.empty()) {
      error = "pattern has an empty segment (\"//\")";
      return std::nullopt;
    }
    if (seg.front() == '<' && seg.back() == '>' && seg.size() >= 2) {
      const std::string_view name = seg.substr(1, seg.size() - 2);
      if (!is_identifier(name)) {
        error = "<" + std::string(name) + "> is not a name (letters, digits, '_', not starting with a digit)";
        return std::nullopt;
      }
      for (const auto& s : e.segments) {
        if (s.is_name && s.text == name) {
          error = "duplicate name <" + std::string(name) + ">";
          return std::nullopt;
        }
      }
      e.segments.push_back({true, std::string(name)});
      shape += "/<>";
      ++names;
    } else if (seg.find_first_of("<>") != std::string_view::npos) {
      error = "a <name> must be a whole segment, got \"" + std::string(seg) + "\"";
      return std::nullopt;
    } else if (!is_plain_literal(seg)) {
      error = "literal segment \"" + std::string(seg) + "\" must be letters, digits, '-', '.', '_' or '~' (not . or ..)";
      return std::nullopt;
    } else {
      e.segments.push_back({false, std::string(seg)});
      shape += "/" + std::string(seg);
    }
  }
  if (names != 1 && e.django_channel.empty()) {
    error = "the built-in " + std::string(kind) + " consumer needs exactly one <name> segment (its " +
            (kind == "chat" ? "room" : "center") + "), got " + std::to_string(names);
    return std::nullopt;
  }
  return e;
}

}  // namespace

const std::vector<std::string>& route_table::default_specs() {
  static const std::vector<std::string> specs{"/ws/chat/<room_name>/ chat",
                                              "/ws/notification/<center_name>/ notification"};
  return specs;
}

const route_table& route_table::defaults() {
  static const route_table table = [] {
    std::string error;
    return *parse(default_specs(), error);
  }();
  return table;
}

std::optional<route_table> route_table::parse(const std::vector<std::string>& specs, std::string& error) {
  if (specs.empty()) {
    error = "--route: at least one route is needed";
    return std::nullopt;
  }
  if (specs.size() > max_routes) {
    error = "--route: at most " + std::to_string(max_routes) + " routes, got " + std::to_string(specs.size());
    return std::nullopt;
  }
  route_table table;
  std::vector<std::string> shapes;  // patterns with names blanked: equal shapes match the same paths
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::string shape;
    auto e = parse_spec(specs[i], shape, error);
    if (e) {
      const auto same = std::find(shapes.begin(), shapes.end(), shape);
      if (same != shapes.end()) {
        error = "duplicate pattern: it matches the same paths as '" + specs[same - shapes.begin()] + "'";
        e.reset();
      }
    }
    if (!e) {
      error = "--route '" + specs[i] + "': " + error;
      return std::nullopt;
    }
    shapes.push_back(std::move(shape));
    table.entries_.push_back(std::move(*e));
  }
  return table;
}

route match_route(std::string_view target, const route_table& routes) {
  std::string_view path = target.substr(0, target.find('?'));
  route r;
  if (path == "/") {
    r.what = route::kind::redirect_to_chat;
  } else if (path == "/chat/") {
    r.what = route::kind::index_page;
  } else if (path == "/healthz") {
    r.what = route::kind::healthz;
  } else if (path == "/metrics") {
    r.what = route::kind::metrics;
  } else if (path == "/api/presence") {
    r.what = route::kind::presence_api;
  } else if (room_page_segment(path, "/chat/", r.room)) {
    r.what = route::kind::room_page;
  } else if (path == "/classic/chat/") {
    r.what = route::kind::classic_index_page;
  } else if (room_page_segment(path, "/classic/chat/", r.room)) {
    r.what = route::kind::classic_room_page;
  } else if (path.substr(0, 10) == "/ws-check/") {
    r.what = route::kind::ws_check;  // http_session matches the rest (from its "/ws/") as a handshake
  } else if (path.substr(0, 4) == "/ws/") {
    r.what = route::kind::ws_not_found;
    for (const auto& e : routes.entries()) {
      if (match_entry(path, e, r)) {
        r.what = route::kind::websocket;
        r.make_consumer = e.make;
        r.django_channel = e.django_channel;
        r.gate_channel = e.gate_channel;
        if (!r.kwargs.empty()) r.room = r.kwargs.front().value;  // a built-in's single kwarg (route_table::parse)
        return r;
      }
      r.kwargs.clear();
    }
  }
  return r;
}

}  // namespace sb::gateway
