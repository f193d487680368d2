// codec.cpp — see codec.hpp.
#include "proto/codec.hpp"

#include <msgpack.hpp>

#include "common/limits.hpp"
#include "common/msgpack_write.hpp"
#include "common/stream_id.hpp"

namespace sb::proto {
namespace {

using packer = common::msgpack_packer;
using common::pack_bin;
using common::pack_str;

// [id, name, guest] or, with watch, [id, name, guest, watch].
void pack_user(packer& pk, const presence_user& u, bool with_watch) {
  pk.pack_array(with_watch ? 4 : 3);
  pack_str(pk, u.id);
  pack_str(pk, u.name);
  pk.pack(u.guest);
  if (with_watch) pk.pack(u.watch);
}

// [worker, render]
void pack_worker(packer& pk, const worker_route& w) {
  pk.pack_array(2);
  pack_str(pk, w.worker);
  pack_bin(pk, w.render);
}

struct encoder {
  packer& pk;
  // An array of one value (packed by `pack`) or nil per channel; `list`
  // may be shorter or null: the rest are nil.
  template <class T, class Pack>
  void pack_per_channel(std::size_t channels, const std::vector<std::optional<T>>* list, Pack&& pack) {
    pk.pack_array(static_cast<std::uint32_t>(channels));
    for (std::size_t j = 0; j < channels; ++j) {
      if (list && j < list->size() && (*list)[j]) {
        pack(*(*list)[j]);
      } else {
        pk.pack_nil();
      }
    }
  }
  void operator()(const hello& m) {
    pk.pack_array(m.sole ? 5 : 4);
    pk.pack(m.major);
    pk.pack(m.minor);
    pack_str(pk, m.gateway_id);
    pk.pack(static_cast<std::uint32_t>(m.role));
    if (m.sole) pk.pack(true);
  }
  void operator()(const welcome& m) {
    pk.pack_array(3);
    pk.pack(m.major);
    pk.pack(m.minor);
    pack_str(pk, m.layerd_id);
  }
  void operator()(const group_add& m) {
    pk.pack_array(m.worker ? 5 : m.user ? 4 : 3);
    pk.pack(m.request);
    pack_str(pk, m.group);
    pack_str(pk, m.channel);
    if (m.user) {
      pack_user(pk, *m.user, true);
    } else if (m.worker) {
      pk.pack_nil();
    }
    if (m.worker) pack_worker(pk, *m.worker);
  }
  void operator()(const group_discard& m) {
    pk.pack_array(2);
    pack_str(pk, m.group);
    pack_str(pk, m.channel);
  }
  void operator()(const group_send& m) {
    const bool numbered = m.seq != 0 || m.id != 0;
    pk.pack_array(numbered ? 4 : 2);
    pack_str(pk, m.group);
    pack_bin(pk, m.event);
    if (numbered) {
      pk.pack(m.seq);
      pk.pack(m.id);
    }
  }
  void operator()(const send& m) {
    pk.pack_array(m.flags != 0 ? 4 : m.request != 0 ? 3 : 2);
    pack_str(pk, m.channel);
    pack_bin(pk, m.event);
    if (m.request != 0 || m.flags != 0) pk.pack(m.request);
    if (m.flags != 0) pk.pack(m.flags);
  }
  void operator()(const heartbeat&) { pk.pack_array(0); }
  void operator()(const deliver& m) {
    const bool extra = m.serial != 0 || !m.applied.empty();
    pk.pack_array(extra ? 4 : 2);
    pk.pack_array(static_cast<std::uint32_t>(m.targets.size()));
    for (const auto& t : m.targets) pack_str(pk, t);
    pack_bin(pk, m.event);
    if (!extra) return;
    pk.pack_array(static_cast<std::uint32_t>(m.applied.size()));
    for (auto i : m.applied) pk.pack(i);
    pk.pack(m.serial);
  }
  void operator()(const batch_done& m) {
    pk.pack_array(2);
    pk.pack(m.serial);
    pk.pack_array(static_cast<std::uint32_t>(m.waiting.size()));
    for (const auto& c : m.waiting) pack_str(pk, c);
  }
  void operator()(const error& m) {
    pk.pack_array(3);
    pk.pack(m.request);
    pack_str(pk, m.code);
    pack_str(pk, m.text);
  }
  void operator()(const ack& m) {
    pk.pack_array(1);
    pk.pack(m.request);
  }
  void operator()(const group_deliver& m) {
    const bool forwarded = !m.forwarded.empty();
    const bool origin = forwarded || !m.origin.empty();
    pk.pack_array(forwarded ? 5 : origin ? 4 : 2);
    pack_str(pk, m.group);
    pack_bin(pk, m.event);
    if (origin) {
      pack_str(pk, m.origin);
      pk.pack(m.id);
    }
    if (forwarded) {
      pk.pack_array(static_cast<std::uint32_t>(m.forwarded.size()));
      for (const auto& c : m.forwarded) pack_str(pk, c);
    }
  }
  void operator()(const send_ack& m) {
    pk.pack_array(1);
    pk.pack(m.seq);
  }
  void operator()(const history_get& m) {
    pk.pack_array(4);
    pk.pack(m.request);
    pack_str(pk, m.group);
    pk.pack(m.count);
    pack_str(pk, m.since);
  }
  void operator()(const history& m) {
    pk.pack_array(3);
    pk.pack(m.request);
    pk.pack(m.complete);
    pk.pack_array(static_cast<std::uint32_t>(m.events.size()));
    for (const auto& e : m.events) pack_bin(pk, e);
  }
  void operator()(const presence_get& m) {
    pk.pack_array(2);
    pk.pack(m.request);
    pack_str(pk, m.group);
  }
  void operator()(const presence_state& m) {
    pk.pack_array(4);
    pk.pack(m.request);
    pk.pack(m.count);
    pk.pack_array(static_cast<std::uint32_t>(m.users.size()));
    for (const auto& u : m.users) pack_user(pk, u, false);
    pk.pack(m.truncated);
  }
  void operator()(const sync& m) {
    pk.pack_array(static_cast<std::uint32_t>(m.groups.size() + m.moved.size()));
    for (std::size_t i = 0; i < m.groups.size(); ++i) {
      const auto& [group, channels] = m.groups[i];
      const auto* users = i < m.users.size() && !m.users[i].empty() ? &m.users[i] : nullptr;
      const auto* workers = i < m.workers.size() && !m.workers[i].empty() ? &m.workers[i] : nullptr;
      pk.pack_array(workers ? 5 : users ? 4 : 2);
      pack_str(pk, group);
      pk.pack_array(static_cast<std::uint32_t>(channels.size()));
      for (const auto& c : channels) pack_str(pk, c);
      if (!users && !workers) continue;
      pk.pack(std::uint32_t{0});  // not moved
      // users, then workers when there are any: one value or nil per channel
      pack_per_channel(channels.size(), users, [&](const presence_user& u) { pack_user(pk, u, true); });
      if (workers) pack_per_channel(channels.size(), workers, [&](const worker_route& w) { pack_worker(pk, w); });
    }
    for (const auto& group : m.moved) {
      pk.pack_array(3);
      pack_str(pk, group);
      pk.pack_array(0);
      pk.pack(std::uint32_t{1});
    }
  }
};

// Field readers: each throws a small message that decode() turns into an error.
struct bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const msgpack::object_array& as_array(const msgpack::object& o, std::uint32_t min_size, const char* what) {
  if (o.type != msgpack::type::ARRAY) throw bad(std::string(what) + " is not an array");
  if (o.via.array.size < min_size) throw bad(std::string(what) + " has too few fields");
  return o.via.array;
}
std::string as_str(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::STR) throw bad(std::string(what) + " is not a string");
  return std::string(o.via.str.ptr, o.via.str.size);
}
std::string as_bin(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::BIN) throw bad(std::string(what) + " is not bin");
  if (o.via.bin.size > common::limits::max_event_bytes) throw bad(std::string(what) + " is too large");
  return std::string(o.via.bin.ptr, o.via.bin.size);
}
std::uint64_t as_uint(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) throw bad(std::string(what) + " is not an unsigned integer");
  return o.via.u64;
}
std::uint32_t as_u32(const msgpack::object& o, const char* what) {
  auto v = as_uint(o, what);
  if (v > 0xffffffffu) throw bad(std::string(what) + " is out of range");
  return static_cast<std::uint32_t>(v);
}
std::vector<std::string> as_str_list(const msgpack::object& o, const char* what) {
  const auto& a = as_array(o, 0, what);
  std::vector<std::string> out;
  out.reserve(a.size);
  for (std::uint32_t i = 0; i < a.size; ++i) out.push_back(as_str(a.ptr[i], what));
  return out;
}

bool as_bool(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::BOOLEAN) throw bad(std::string(what) + " is not a boolean");
  return o.via.boolean;
}
// A presence user: bounded as the gateway's identity (a token's sub and
// name), so one bad peer cannot make presence hold large strings.
presence_user as_user(const msgpack::object& o, bool with_watch) {
  const auto& a = as_array(o, with_watch ? 4 : 3, "user");
  presence_user u{as_str(a.ptr[0], "user id"), as_str(a.ptr[1], "user name"), as_bool(a.ptr[2], "user guest")};
  if (u.id.empty()) throw bad("user id is empty");
  if (u.id.size() > common::limits::max_user_id_bytes) throw bad("user id is too long");
  if (u.name.size() > common::limits::max_user_name_bytes) throw bad("user name is too long");
  if (with_watch) u.watch = as_bool(a.ptr[3], "user watch");
  return u;
}

// A member's worker (1.5): a process-local channel's name and a bounded
// RENDER (both checked in full where they are used: common/names.hpp,
// common/render_spec.hpp).
worker_route as_worker(const msgpack::object& o) {
  const auto& a = as_array(o, 2, "worker");
  worker_route w{as_str(a.ptr[0], "worker channel"), as_bin(a.ptr[1], "render")};
  // the name's full check is the user's (common/names.hpp); proto has no I/O and no names
  if (w.worker.empty() || w.worker.size() > common::limits::max_channel_name ||
      w.worker.find('!') == std::string::npos) {
    throw bad("worker is not a process-local channel name");
  }
  if (w.render.size() > common::limits::max_render_bytes) throw bad("render is too big");
  return w;
}

// A SYNC entry's per-channel field (users, workers): one value or nil per
// channel, appended to `lists` as entry `index` (earlier entries without
// one get empty lists).
template <class T, class Decode>
void per_channel(const msgpack::object& o, std::size_t channels, const char* what,
                 std::vector<std::vector<std::optional<T>>>& lists, std::size_t index, Decode&& decode) {
  const auto& a = as_array(o, 0, what);
  if (a.size != channels) throw bad(std::string(what) + " do not match its channels");
  lists.resize(index);
  auto& list = lists.emplace_back();
  list.reserve(a.size);
  for (std::uint32_t j = 0; j < a.size; ++j) {
    if (a.ptr[j].type == msgpack::type::NIL) {
      list.emplace_back();
    } else {
      list.emplace_back(decode(a.ptr[j]));
    }
  }
}

message decode_object(kind k, const msgpack::object& o) {
  switch (k) {
    case kind::hello: {
      const auto& a = as_array(o, 3, "hello");
      hello h{as_u32(a.ptr[0], "major"), as_u32(a.ptr[1], "minor"), as_str(a.ptr[2], "gateway_id")};
      if (a.size > 3) {  // 1.1: the role; a 1.0 peer sends none and is a gateway
        const auto role = as_u32(a.ptr[3], "role");
        if (role > static_cast<std::uint32_t>(peer_role::client)) throw bad("hello has an unknown role");
        h.role = static_cast<peer_role>(role);
      }
      if (a.size > 4) h.sole = as_bool(a.ptr[4], "sole");  // 1.6
      return h;
    }
    case kind::welcome: {
      const auto& a = as_array(o, 3, "welcome");
      return welcome{as_u32(a.ptr[0], "major"), as_u32(a.ptr[1], "minor"), as_str(a.ptr[2], "layerd_id")};
    }
    case kind::group_add: {
      const auto& a = as_array(o, 3, "group_add");
      group_add g{as_uint(a.ptr[0], "request"), as_str(a.ptr[1], "group"), as_str(a.ptr[2], "channel")};
      if (a.size > 3 && a.ptr[3].type != msgpack::type::NIL) g.user = as_user(a.ptr[3], true);  // 1.4
      if (a.size > 4 && a.ptr[4].type != msgpack::type::NIL) g.worker = as_worker(a.ptr[4]);  // 1.5
      return g;
    }
    case kind::group_discard: {
      const auto& a = as_array(o, 2, "group_discard");
      return group_discard{as_str(a.ptr[0], "group"), as_str(a.ptr[1], "channel")};
    }
    case kind::group_send: {
      const auto& a = as_array(o, 2, "group_send");
      group_send s{as_str(a.ptr[0], "group"), as_bin(a.ptr[1], "event")};
      if (a.size > 2) s.seq = as_uint(a.ptr[2], "seq");  // 1.2
      if (a.size > 3) s.id = as_uint(a.ptr[3], "id");
      return s;
    }
    case kind::send: {
      const auto& a = as_array(o, 2, "send");
      send s{as_str(a.ptr[0], "channel"), as_bin(a.ptr[1], "event")};
      if (a.size > 2) s.request = as_uint(a.ptr[2], "request");  // 1.3
      if (a.size > 3) s.flags = as_u32(a.ptr[3], "flags");        // 1.4
      return s;
    }
    case kind::heartbeat:
      as_array(o, 0, "heartbeat");
      return heartbeat{};
    case kind::deliver: {
      const auto& a = as_array(o, 2, "deliver");
      deliver d{as_str_list(a.ptr[0], "targets"), as_bin(a.ptr[1], "event")};
      if (a.size > 3) {  // 1.6
        const auto& applied = as_array(a.ptr[2], 0, "applied");
        if (applied.size > common::limits::max_batch_messages) throw bad("applied is over the batch bound");
        d.applied.reserve(applied.size);
        for (std::uint32_t i = 0; i < applied.size; ++i) {
          const auto index = as_u32(applied.ptr[i], "applied index");
          if (index >= common::limits::max_batch_messages) throw bad("an applied index is past the batch bound");
          d.applied.push_back(index);
        }
        d.serial = as_uint(a.ptr[3], "serial");
      }
      return d;
    }
    case kind::error: {
      const auto& a = as_array(o, 3, "error");
      return error{as_uint(a.ptr[0], "request"), as_str(a.ptr[1], "code"), as_str(a.ptr[2], "text")};
    }
    case kind::ack: {
      const auto& a = as_array(o, 1, "ack");
      return ack{as_uint(a.ptr[0], "request")};
    }
    case kind::group_deliver: {
      const auto& a = as_array(o, 2, "group_deliver");
      group_deliver d{as_str(a.ptr[0], "group"), as_bin(a.ptr[1], "event")};
      if (a.size > 3) {  // 1.2
        d.origin = as_str(a.ptr[2], "origin");
        d.id = as_uint(a.ptr[3], "id");
      }
      if (a.size > 4) d.forwarded = as_str_list(a.ptr[4], "forwarded");  // 1.5
      return d;
    }
    case kind::send_ack: {
      const auto& a = as_array(o, 1, "send_ack");
      return send_ack{as_uint(a.ptr[0], "seq")};
    }
    case kind::history_get: {
      const auto& a = as_array(o, 4, "history_get");
      history_get h{as_uint(a.ptr[0], "request"), as_str(a.ptr[1], "group"), as_u32(a.ptr[2], "count"),
                    as_str(a.ptr[3], "since")};
      if (h.count > common::limits::max_history_count) throw bad("count is over the history bound");
      if (!h.since.empty() && !common::parse_stream_id(h.since)) throw bad("since is not a <ms>-<seq> id");
      return h;
    }
    case kind::history: {
      const auto& a = as_array(o, 3, "history");
      if (a.ptr[1].type != msgpack::type::BOOLEAN) throw bad("complete is not a boolean");
      const auto& events = as_array(a.ptr[2], 0, "events");
      if (events.size > common::limits::max_history_count) throw bad("events are over the history bound");
      history h{as_uint(a.ptr[0], "request"), a.ptr[1].via.boolean, {}};
      h.events.reserve(events.size);
      for (std::uint32_t i = 0; i < events.size; ++i) h.events.push_back(as_bin(events.ptr[i], "event"));
      return h;
    }
    case kind::sync: {
      const auto& a = as_array(o, 0, "sync");
      sync s;
      s.groups.reserve(a.size);
      for (std::uint32_t i = 0; i < a.size; ++i) {
        const auto& entry = as_array(a.ptr[i], 2, "sync entry");
        auto group = as_str(entry.ptr[0], "group");
        auto channels = as_str_list(entry.ptr[1], "channels");
        // 1.2: a third field 1 marks a group that moved away from this layerd
        const bool moved = entry.size > 2 && as_u32(entry.ptr[2], "moved") == 1;
        if (moved) {
          s.moved.push_back(std::move(group));
          continue;
        }
        // 1.4: each channel's user; 1.5: each channel's worker (nil for none)
        if (entry.size > 3) per_channel(entry.ptr[3], channels.size(), "sync users", s.users, s.groups.size(),
                                        [](const msgpack::object& o) { return as_user(o, true); });
        if (entry.size > 4) per_channel(entry.ptr[4], channels.size(), "sync workers", s.workers, s.groups.size(),
                                        [](const msgpack::object& o) { return as_worker(o); });
        s.groups.emplace_back(std::move(group), std::move(channels));
      }
      return s;
    }
    case kind::presence_get: {
      const auto& a = as_array(o, 2, "presence_get");
      return presence_get{as_uint(a.ptr[0], "request"), as_str(a.ptr[1], "group")};
    }
    case kind::presence_state: {
      const auto& a = as_array(o, 4, "presence_state");
      presence_state st;
      st.request = as_uint(a.ptr[0], "request");
      st.count = as_uint(a.ptr[1], "count");
      const auto& us = as_array(a.ptr[2], 0, "users");
      st.users.reserve(us.size);
      for (std::uint32_t i = 0; i < us.size; ++i) st.users.push_back(as_user(us.ptr[i], false));
      st.truncated = as_bool(a.ptr[3], "truncated");
      return st;
    }
    case kind::batch_done: {
      const auto& a = as_array(o, 2, "batch_done");
      batch_done d{as_uint(a.ptr[0], "serial"), as_str_list(a.ptr[1], "waiting")};
      if (d.waiting.size() > common::limits::max_batch_done_waiting) throw bad("waiting is over its bound");
      return d;
    }
  }
  throw bad("unknown kind");
}

}  // namespace

kind kind_of(const message& m) {
  static constexpr kind kinds[] = {kind::hello,     kind::welcome, kind::group_add, kind::group_discard,
                                   kind::group_send, kind::send,    kind::heartbeat, kind::deliver,
                                   kind::error,      kind::ack,     kind::sync,      kind::group_deliver,
                                   kind::send_ack,   kind::history_get, kind::history,   kind::presence_get,
                                   kind::presence_state, kind::batch_done};
  return kinds[m.index()];
}

const char* kind_name(std::uint8_t k) {
  static constexpr const char* names[] = {"?",         "hello",   "welcome", "group_add", "group_discard", "group_send",
                                          "send",      "heartbeat", "deliver", "error",   "ack",           "sync",
                                          "group_deliver", "send_ack", "history_get", "history", "presence_get",
                                          "presence_state", "batch_done"};
  return k < std::size(names) ? names[k] : "?";
}

std::string encode(const message& m) {
  msgpack::sbuffer buf;
  packer pk(buf);
  std::visit(encoder{pk}, m);
  return std::string(buf.data(), buf.size());
}

common::result<message> decode(std::uint8_t kind_byte, std::string_view body) {
  if (kind_byte < static_cast<std::uint8_t>(kind::hello) || kind_byte > static_cast<std::uint8_t>(kind::batch_done)) {
    return common::error{"unknown message kind " + std::to_string(kind_byte)};
  }
  if (body.size() > common::limits::max_proto_body) return common::error{"message body too large"};
  try {
    // Every element takes at least one byte, so a count above the body size
    // is a lie; refusing it up front stops a 5-byte body from making
    // msgpack reserve gigabytes for a bogus array header.
    const auto n = static_cast<std::size_t>(body.size());
    const msgpack::unpack_limit limit(/*array*/ n, /*map*/ n / 2, /*str*/ 1u << 20,
                                      /*bin*/ common::limits::max_event_bytes, /*ext*/ 0, /*depth*/ 8);
    std::size_t off = 0;
    auto oh = msgpack::unpack(body.data(), body.size(), off, nullptr, nullptr, limit);
    if (off != body.size()) return common::error{"trailing bytes after message body"};
    return decode_object(static_cast<kind>(kind_byte), oh.get());
  } catch (const bad& e) {
    return common::error{std::string(kind_name(kind_byte)) + ": " + e.what()};
  } catch (const std::exception& e) {
    return common::error{std::string(kind_name(kind_byte)) + ": malformed msgpack (" + e.what() + ")"};
  }
}

}  // namespace sb::proto
