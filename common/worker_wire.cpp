// worker_wire.cpp — see worker_wire.hpp.
#include "common/worker_wire.hpp"

#include <msgpack.hpp>

#include "common/msgpack_write.hpp"

#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/worker_event.hpp"

namespace sb::common::worker_wire {
namespace {

using packer = common::msgpack_packer;
using common::pack_bin;
using common::pack_str;
std::string bytes_of(const msgpack::sbuffer& buf) { return std::string(buf.data(), buf.size()); }

// A message for one socket: {"type": type, "socket": S, <field>: ...}.
template <class F>
std::string socket_message(std::string_view type, std::string_view socket, std::uint32_t extra, F&& fields) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(2 + extra);
  pack_str(pk, "type");
  pack_str(pk, type);
  pack_str(pk, "socket");
  pack_str(pk, socket);
  fields(pk, buf);
  return bytes_of(buf);
}

struct bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const msgpack::object* field(const msgpack::object_map& m, std::string_view key) {
  const msgpack::object* found = nullptr;  // the last of a repeated key, as Python's dict
  for (std::uint32_t i = 0; i < m.size; ++i) {
    const auto& k = m.ptr[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) found = &m.ptr[i].val;
  }
  return found;
}
std::string_view as_str(const msgpack::object* o, const char* what) {
  if (!o) throw bad(std::string("missing \"") + what + "\"");
  if (o->type != msgpack::type::STR) throw bad(std::string("\"") + what + "\" is not a string");
  return {o->via.str.ptr, o->via.str.size};
}

}  // namespace

std::string connect(std::string_view socket, std::string_view scope_msgpack) {
  return socket_message("switchboard.connect", socket, 2, [&](packer& pk, msgpack::sbuffer& buf) {
    pack_str(pk, "scope");
    buf.write(scope_msgpack.data(), scope_msgpack.size());  // already msgpack
    pack_str(pk, "batch");
    pk.pack_true();
  });
}

std::string receive_text(std::string_view socket, std::string_view text) {
  return socket_message("websocket.receive", socket, 1, [&](packer& pk, msgpack::sbuffer&) {
    pack_str(pk, "text");
    pack_str(pk, text);
  });
}

std::string receive_bytes(std::string_view socket, std::string_view bytes) {
  return socket_message("websocket.receive", socket, 1, [&](packer& pk, msgpack::sbuffer&) {
    pack_str(pk, "bytes");
    pack_bin(pk, bytes);
  });
}

std::string disconnect(std::string_view socket, int code) {
  return socket_message("websocket.disconnect", socket, 1, [&](packer& pk, msgpack::sbuffer&) {
    pack_str(pk, "code");
    pk.pack(code);
  });
}

std::string event(std::string_view socket, std::string_view event_msgpack) {
  return common::worker_event(socket, event_msgpack);
}

std::string event_for(const std::vector<std::string>& sockets, std::size_t first, std::size_t count,
                      std::string_view event_msgpack) {
  return common::worker_event(sockets, first, count, event_msgpack);
}

std::string alive(std::string_view gateway, const std::vector<std::string>& sockets) {
  msgpack::sbuffer buf;
  packer pk(buf);
  const bool listed = sockets.size() <= max_alive_sockets;
  pk.pack_map(listed ? 3 : 2);
  pack_str(pk, "type");
  pack_str(pk, "switchboard.alive");
  pack_str(pk, "gateway");
  pack_str(pk, gateway);
  if (listed) {
    pack_str(pk, "sockets");
    pk.pack_array(static_cast<std::uint32_t>(sockets.size()));
    for (const auto& s : sockets) pack_str(pk, s);
  }
  return bytes_of(buf);
}

bool server_may_send(int code) {
  // RFC 6455 7.4: 1000-1003, 1007-1011 (and 1012-1014, registered since),
  // and the 3000-4999 ranges; never 1004-1006 or 1015.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

namespace {
// The message as msgpack objects, within the event bounds (common/limits.hpp).
msgpack::object_handle unpack_bounded(std::string_view bytes) {
  namespace lim = common::limits;
  if (bytes.size() > lim::max_event_bytes) throw bad("message over " + std::to_string(lim::max_event_bytes) + " bytes");
  const msgpack::unpack_limit limit(lim::max_event_items, lim::max_event_items, lim::max_event_bytes,
                                    lim::max_event_bytes, lim::max_event_bytes, lim::max_event_depth);
  std::size_t off = 0;
  auto oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
  if (off != bytes.size()) throw bad("trailing bytes after the message");
  return oh;
}
}  // namespace

namespace {
// A switchboard.batch's worker and messages, as decode_batch and
// decode_group_ops both read them: nullopt when `o` is no batch, an error
// when it is one refused whole.
struct batch_header {
  std::string_view worker;
  const msgpack::object_array* messages = nullptr;
};
std::optional<common::result<batch_header>> read_batch_header(const msgpack::object& o) {
  if (o.type != msgpack::type::MAP) return std::nullopt;
  const auto* type = field(o.via.map, "type");
  if (!type || type->type != msgpack::type::STR ||
      std::string_view(type->via.str.ptr, type->via.str.size) != "switchboard.batch") {
    return std::nullopt;
  }
  batch_header h;
  h.worker = as_str(field(o.via.map, "worker"), "worker");
  if (!common::is_valid_channel_name(h.worker) || h.worker.find('!') == std::string_view::npos) {
    return common::result<batch_header>(common::error{"\"worker\" is not a process-local channel name"});
  }
  const auto* list = field(o.via.map, "messages");
  if (!list || list->type != msgpack::type::ARRAY) {
    return common::result<batch_header>(common::error{"\"messages\" is not a list"});
  }
  if (list->via.array.size > max_batch_messages) {
    return common::result<batch_header>(common::error{"a batch of " + std::to_string(list->via.array.size) +
                                                      " messages (at most " + std::to_string(max_batch_messages) + ")"});
  }
  h.messages = &list->via.array;
  return common::result<batch_header>(h);
}
}  // namespace

std::optional<common::result<batch>> decode_batch(std::string_view bytes) {
  try {
    auto oh = unpack_bounded(bytes);
    auto header = read_batch_header(oh.get());
    if (!header) return std::nullopt;
    if (!*header) return common::result<batch>(common::error{header->error_text()});
    const auto& list = *header->value().messages;
    batch out;
    out.worker = std::string(header->value().worker);
    out.entries.reserve(list.size);
    for (std::uint32_t i = 0; i < list.size; ++i) {
      const auto& e = list.ptr[i];
      const auto* socket = e.type == msgpack::type::MAP ? field(e.via.map, "socket") : nullptr;
      if (!socket || socket->type != msgpack::type::STR) {
        out.problems.push_back("entry " + std::to_string(i) + (e.type == msgpack::type::MAP ? " has no \"socket\" string" : " is not a map"));
        continue;
      }
      msgpack::sbuffer buf;
      msgpack::pack(buf, e);
      out.entries.push_back({std::string(socket->via.str.ptr, socket->via.str.size), bytes_of(buf), i});
    }
    return common::result<batch>(std::move(out));
  } catch (const bad& e) {
    return common::result<batch>(common::error{e.what()});
  } catch (const std::exception& e) {
    return common::result<batch>(common::error{std::string("malformed msgpack (") + e.what() + ")"});
  }
}

namespace {
// decode() of one unpacked message; throws bad for a missing or mistyped field.
common::result<message> decode_object(const msgpack::object& o, std::size_t max_payload) {
  if (o.type != msgpack::type::MAP) return common::error{"message is not a map"};
  const auto& m = o.via.map;
  message out;
  const std::string_view type = as_str(field(m, "type"), "type");
  const bool ws = type.substr(0, 10) == "websocket.";
  const bool sb = type.substr(0, 12) == "switchboard.";
  if (!ws && !sb) {
    out.what = message::kind::event;
    out.type = std::string(type);
    return out;
  }
  if (type == "websocket.accept") {
    out.what = message::kind::accept;
  } else if (type == "websocket.send") {
    out.what = message::kind::send_text;
  } else if (type == "websocket.close") {
    out.what = message::kind::close;
  } else if (type == "switchboard.group_add") {
    out.what = message::kind::group_add;
  } else if (type == "switchboard.group_discard") {
    out.what = message::kind::group_discard;
  } else if (type == "switchboard.group_send") {
    out.what = message::kind::group_send;
  } else if (type == "switchboard.worker_alive") {
    out.what = message::kind::worker_alive;
  } else {
    return common::error{"unknown message type \"" + std::string(type.substr(0, 100)) + "\""};
  }
  const std::string_view worker = as_str(field(m, "worker"), "worker");
  if (!common::is_valid_channel_name(worker) || worker.find('!') == std::string_view::npos) {
    return common::error{"\"worker\" is not a process-local channel name"};
  }
  out.worker = std::string(worker);
  out.in_batch = field(m, "socket") != nullptr;
  if (out.what == message::kind::worker_alive) return out;
  const auto* seq = field(m, "seq");
  if (!seq) return common::error{"missing \"seq\""};
  if (seq->type != msgpack::type::POSITIVE_INTEGER || seq->via.u64 == 0) {
    return common::error{"\"seq\" is not a positive integer"};
  }
  out.seq = seq->via.u64;
  switch (out.what) {
    case message::kind::accept: {
      const auto* sub = field(m, "subprotocol");
      if (sub && sub->type != msgpack::type::NIL) {
        out.data = std::string(as_str(sub, "subprotocol"));
        out.has_subprotocol = true;
      }
      const msgpack::object nil;
      const msgpack::object* render = &nil;
      if (const auto* ext = field(m, "switchboard"); ext && ext->type != msgpack::type::NIL) {
        if (ext->type != msgpack::type::MAP) return common::error{"\"switchboard\" is not a map"};
        if (const auto* r = field(ext->via.map, "render")) render = r;
        if (const auto* u = field(ext->via.map, "user"); u && u->type != msgpack::type::NIL) {
          if (u->type != msgpack::type::MAP) return common::error{"\"user\" is not a map"};
          out.user_id = std::string(as_str(field(u->via.map, "id"), "user.id"));
          out.user_name = std::string(as_str(field(u->via.map, "name"), "user.name"));
          if (out.user_id.empty() || out.user_id.size() > common::limits::max_user_id_bytes ||
              out.user_name.empty() || out.user_name.size() > common::limits::max_user_name_bytes ||
              !common::decode_utf8(out.user_id) || !common::decode_utf8(out.user_name)) {
            return common::error{"\"user\" id or name is empty, too long or not UTF-8"};
          }
          out.has_user = true;
        }
      }
      auto spec = common::render_spec::from_msgpack(*render);
      if (spec) {
        out.render = std::move(spec.value());
      } else {
        out.render_problem = spec.error_text();
      }
      return out;
    }
    case message::kind::send_text: {
      const auto* text = field(m, "text");
      const auto* data = field(m, "bytes");
      if (text && text->type != msgpack::type::NIL) {
        out.data = std::string(as_str(text, "text"));
        if (!common::decode_utf8(out.data)) return common::error{"\"text\" is not valid UTF-8"};
      } else if (data && data->type != msgpack::type::NIL) {
        if (data->type != msgpack::type::BIN) return common::error{"\"bytes\" is not bytes"};
        out.what = message::kind::send_bytes;
        out.data = std::string(data->via.bin.ptr, data->via.bin.size);
      } else {
        return common::error{"websocket.send has neither \"text\" nor \"bytes\""};
      }
      if (out.data.size() > max_payload) {
        return common::error{"websocket.send over the frame limit of " + std::to_string(max_payload) + " bytes"};
      }
      return out;
    }
    case message::kind::close: {
      const auto* code = field(m, "code");
      if (!code || code->type == msgpack::type::NIL) return out;  // 1000
      if (code->type != msgpack::type::POSITIVE_INTEGER && code->type != msgpack::type::NEGATIVE_INTEGER) {
        return common::error{"\"code\" is not an integer"};
      }
      const std::int64_t c = code->type == msgpack::type::POSITIVE_INTEGER
                                 ? static_cast<std::int64_t>(std::min<std::uint64_t>(code->via.u64, 1u << 20))
                                 : code->via.i64;
      if (server_may_send(static_cast<int>(c)) && c <= 4999 && c >= 1000) {
        out.code = static_cast<std::uint16_t>(c);
      } else {
        out.code_replaced = true;
      }
      return out;
    }
    case message::kind::group_add:
    case message::kind::group_discard:
    case message::kind::group_send: {
      out.data = std::string(as_str(field(m, "group"), "group"));
      if (!common::is_valid_group_name(out.data)) return common::error{"\"group\" is not a valid group name"};
      if (out.what != message::kind::group_send) return out;
      const auto* ev = field(m, "message");
      if (!ev) return common::error{"missing \"message\""};
      msgpack::sbuffer buf;
      msgpack::pack(buf, *ev);
      std::string packed(buf.data(), buf.size());
      auto check = common::check_event(packed);
      if (!check.ok) return common::error{"bad \"message\": " + check.problem};
      out.type = std::move(check.type);
      out.event_msgpack = std::move(packed);
      return out;
    }
    default:
      return out;
  }
}
}  // namespace

common::result<message> decode(std::string_view bytes, std::size_t max_payload) {
  try {
    auto oh = unpack_bounded(bytes);
    return decode_object(oh.get(), max_payload);
  } catch (const bad& e) {
    return common::error{e.what()};
  } catch (const std::exception& e) {
    return common::error{std::string("malformed msgpack (") + e.what() + ")"};
  }
}

std::optional<group_ops> decode_group_ops(std::string_view bytes) {
  try {
    auto oh = unpack_bounded(bytes);
    auto header = read_batch_header(oh.get());
    if (!header || !*header) return std::nullopt;
    const auto& list = *header->value().messages;
    group_ops out;
    out.worker = std::string(header->value().worker);
    for (std::uint32_t i = 0; i < list.size; ++i) {
      const auto& e = list.ptr[i];
      if (e.type != msgpack::type::MAP) continue;
      const auto* t = field(e.via.map, "type");
      const auto* socket = field(e.via.map, "socket");
      if (!t || t->type != msgpack::type::STR || !socket || socket->type != msgpack::type::STR) continue;
      // Only the three group messages are read; the rest (sends, accepts,
      // closes: most of a busy batch) are skipped without a copy.
      if (std::string_view(t->via.str.ptr, t->via.str.size).substr(0, 18) != "switchboard.group_") continue;
      try {
        auto m = decode_object(e, 0);
        if (!m) continue;
        out.ops.push_back({i, std::string(socket->via.str.ptr, socket->via.str.size), std::move(m.value())});
      } catch (const bad&) {
        continue;  // the gateway's door refuses it too
      }
    }
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace sb::common::worker_wire
