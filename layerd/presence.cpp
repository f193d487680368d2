// presence.cpp — see presence.hpp.
#include "layerd/presence.hpp"

#include <algorithm>

#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/msgpack_write.hpp"
#include "common/names.hpp"

namespace sb::layerd {

namespace {

using packer = common::msgpack_packer;
using common::pack_str;

// {"id", "name"[, "guest": true]}, as the chat line's user (docs/protocol.md).
void pack_user(packer& pk, const std::string& id, const std::string& name, bool guest) {
  pk.pack_map(guest ? 3 : 2);
  pack_str(pk, "id");
  pack_str(pk, id);
  pack_str(pk, "name");
  pack_str(pk, name);
  if (guest) {
    pack_str(pk, "guest");
    pk.pack(true);
  }
}

struct named {
  const std::string* id;
  const std::string* name;
  bool guest;
};

void pack_list(packer& pk, std::vector<named>& users) {
  std::sort(users.begin(), users.end(), [](const named& a, const named& b) { return *a.id < *b.id; });
  pk.pack_array(static_cast<std::uint32_t>(users.size()));
  for (const auto& u : users) pack_user(pk, *u.id, *u.name, u.guest);
}

std::string key_of(const std::string& group, const std::string& channel) { return group + '\n' + channel; }

}  // namespace

presence::presence(const layerd_config& cfg, peers& peers)
    : peers_(peers), debounce_(cfg.presence_debounce_ms), list_max_(cfg.presence_list_max) {}

void presence::expect(const std::string& group, const std::string& channel, const proto::presence_user& user) {
  expected_[key_of(group, channel)] = user;
}

bool presence::follows(std::string_view) const {
  // Any group whose sockets came with a user: the others cost one failed
  // lookup per join (joined()) and nothing per send.
  return true;
}

void presence::joined(const std::string& group, const std::string& channel, join how) {
  auto it = expected_.find(key_of(group, channel));
  if (it == expected_.end()) return;  // no user: a socket presence does not count
  const proto::presence_user user = std::move(it->second);
  expected_.erase(it);
  auto [git, fresh] = groups_.try_emplace(group);
  auto& g = git->second;
  const auto now = clock::now();
  if (fresh && how == join::sync) g.quiet_until = now + std::chrono::milliseconds(common::limits::presence_rebuild_quiet_ms);
  add(group, g, channel, user, how == join::add || now >= g.quiet_until);
  // After the joiner is counted, so the snapshot holds everyone present
  // (whatever gateway they are on) and the joiner itself.
  if (how == join::add && user.watch) snapshot_to(group, g, channel);
}

void presence::left(const std::string& group, const std::string& channel) { remove(group, channel, true); }

void presence::moved_away(const std::string& group, const std::string& channel) { remove(group, channel, false); }

void presence::add(const std::string& group, group_state& g, const std::string& channel, const proto::presence_user& user, bool announce) {
  if (auto s = g.sockets.find(channel); s != g.sockets.end()) {
    if (s->second.id == user.id && s->second.watch == user.watch) return;  // a repeated join
    // The same socket restated as someone else or with another watch: its
    // old tab goes first (inside one window the net change shows).
    drop_socket(group, g, s, announce);
  }
  if (g.sockets.size() >= common::limits::max_presence_sockets) {
    ++stats_.not_counted;
    if (!g.warned_full) {
      g.warned_full = true;
      common::log("layerd")->warn("presence full sockets={} reason=\"more sockets in one group are members but not "
                                  "counted\"",
                                  g.sockets.size());
    }
    return;
  }
  g.sockets.emplace(channel, socket_entry{user.id, user.watch});
  if (user.watch) {
    if (auto parts = common::split_specific_channel(channel)) {
      g.watchers[std::string(parts->gateway)].emplace(parts->conn);
    }
  }
  auto [u, fresh] = g.users.try_emplace(user.id, user_entry{user.name, user.guest, 0});
  if (fresh && announce) touch(group, g, user.id, u->second, false);
  ++u->second.tabs;
}

void presence::remove(const std::string& group, const std::string& channel, bool announce) {
  auto git = groups_.find(group);
  if (git == groups_.end()) return;
  auto& g = git->second;
  auto s = g.sockets.find(channel);
  if (s == g.sockets.end()) return;
  drop_socket(group, g, s, announce);
  if (g.sockets.empty() && !g.armed) groups_.erase(git);
}

void presence::drop_socket(const std::string& group, group_state& g,
                           std::unordered_map<std::string, socket_entry>::iterator s, bool announce) {
  const std::string channel = s->first;
  const std::string id = std::move(s->second.id);
  const bool watch = s->second.watch;
  g.sockets.erase(s);
  if (watch) {
    if (auto parts = common::split_specific_channel(channel)) {
      auto w = g.watchers.find(std::string(parts->gateway));
      if (w != g.watchers.end()) {
        w->second.erase(std::string(parts->conn));
        if (w->second.empty()) g.watchers.erase(w);
      }
    }
  }
  auto u = g.users.find(id);
  if (u != g.users.end() && --u->second.tabs == 0) {
    if (announce) touch(group, g, id, u->second, true);
    g.users.erase(u);
  }
}

void presence::touch(const std::string& group, group_state& g, const std::string& id, const user_entry& u,
                     bool was_present) {
  // Only the first touch in a window says whether the user was there
  // when it opened; later ones only refresh the name to show.
  auto [t, fresh] = g.touched.try_emplace(id, touched_entry{was_present, u.name, u.guest});
  if (!fresh) {
    t->second.name = u.name;
    t->second.guest = u.guest;
  }
  if (g.armed) return;
  g.armed = true;
  deadlines_.emplace_back(clock::now() + debounce_, group);
}

presence::clock::time_point presence::tick(clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    const std::string group = std::move(deadlines_.front().second);
    deadlines_.pop_front();
    auto it = groups_.find(group);
    if (it == groups_.end()) continue;
    flush(group, it->second);
    if (it->second.sockets.empty()) groups_.erase(it);
  }
  return deadlines_.empty() ? clock::time_point::max() : deadlines_.front().first;
}

void presence::flush([[maybe_unused]] const std::string& group, group_state& g) {
  g.armed = false;
  std::vector<named> joined, left;
  for (const auto& [id, t] : g.touched) {
    const auto u = g.users.find(id);
    const bool now_present = u != g.users.end();
    if (now_present && !t.was_present) joined.push_back({&id, &u->second.name, u->second.guest});
    if (!now_present && t.was_present) left.push_back({&id, &t.name, t.guest});
  }
  if (!joined.empty() || !left.empty()) {
    // Lists only while the room and each list fit --presence-list-max.
    const bool lists = listed(g.users.size()) && listed(joined.size()) && listed(left.size());
    msgpack::sbuffer buf;
    packer pk(buf);
    pk.pack_map(lists ? 4 : 2);
    pack_str(pk, "type");
    pack_str(pk, "presence");
    if (lists) {
      pack_str(pk, "joined");
      pack_list(pk, joined);
      pack_str(pk, "left");
      pack_list(pk, left);
    }
    pack_str(pk, "count");
    pk.pack(static_cast<std::uint64_t>(g.users.size()));
    ++stats_.changes_sent;
    deliver(g.watchers, std::string(buf.data(), buf.size()));
    SPDLOG_LOGGER_TRACE(common::log("layerd"), "presence sent group={} joined={} left={} count={}", group,
                        joined.size(), left.size(), g.users.size());
  }
  g.touched.clear();
}

void presence::snapshot_to([[maybe_unused]] const std::string& group, const group_state& g, const std::string& channel) {
  auto parts = common::split_specific_channel(channel);
  if (!parts) return;
  const bool lists = listed(g.users.size());
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(lists ? 4 : 3);
  pack_str(pk, "type");
  pack_str(pk, "presence");
  pack_str(pk, "snapshot");
  pk.pack(true);
  pack_str(pk, "count");
  pk.pack(static_cast<std::uint64_t>(g.users.size()));
  if (lists) {
    pack_str(pk, "users");
    std::vector<named> users;
    users.reserve(g.users.size());
    for (const auto& [id, u] : g.users) users.push_back({&id, &u.name, u.guest});
    pack_list(pk, users);
  }
  ++stats_.snapshots_sent;
  std::map<std::string, std::unordered_set<std::string>> one{{std::string(parts->gateway), {std::string(parts->conn)}}};
  deliver(one, std::string(buf.data(), buf.size()));
  SPDLOG_LOGGER_TRACE(common::log("layerd"), "presence snapshot group={} channel={} count={}", group, channel,
                      g.users.size());
}

void presence::deliver(const std::map<std::string, std::unordered_set<std::string>>& watchers,
                       const std::string& event) {
  // Encoded once per gateway, whatever the number of watchers it has.
  for (const auto& [gateway, conns] : watchers) {
    if (conns.empty() || !peers_.is_gateway(gateway)) continue;
    proto::deliver d{std::vector<std::string>(conns.begin(), conns.end()), event};
    stats_.frames_out += conns.size();
    peers_.reply(gateway, d);
  }
}

proto::presence_state presence::state(std::uint64_t request, const std::string& group) const {
  proto::presence_state st;
  st.request = request;
  auto it = groups_.find(group);
  if (it == groups_.end()) return st;
  const auto& users = it->second.users;
  st.count = users.size();
  std::vector<const std::pair<const std::string, user_entry>*> sorted;
  sorted.reserve(users.size());
  for (const auto& e : users) sorted.push_back(&e);
  const std::size_t n = std::min(sorted.size(), static_cast<std::size_t>(list_max_));
  std::partial_sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n), sorted.end(),
                    [](auto* a, auto* b) { return a->first < b->first; });
  for (std::size_t i = 0; i < n; ++i) {
    st.users.push_back(proto::presence_user{sorted[i]->first, sorted[i]->second.name, sorted[i]->second.guest});
  }
  st.truncated = n < users.size();
  return st;
}

}  // namespace sb::layerd
