// worker_members.cpp — see worker_members.hpp.
#include "layerd/worker_members.hpp"

#include <algorithm>

#include <msgpack.hpp>

#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/worker_event.hpp"

namespace sb::layerd {

std::optional<worker_members::entry> worker_members::checked(const std::string& channel,
                                                             const proto::worker_route& w) {
  const char* why = nullptr;
  std::shared_ptr<const common::render_spec> spec;
  auto parts = common::split_specific_channel(w.worker);
  if (!common::is_valid_channel_name(w.worker) || !parts || parts->gateway.empty() || parts->conn.empty()) {
    why = "the worker is not a process-local channel";
  } else if (is_gateway_ && is_gateway_(std::string(parts->gateway))) {
    why = "the worker is a Switchboard gateway's channel";
  } else {
    // RENDER is a map of at most 64 names to arrays of at most 16 names
    // (common/render_spec.hpp); anything deeper or wider is refused while
    // unpacking, before it costs more than its bytes.
    try {
      auto oh = msgpack::unpack(w.render.data(), w.render.size(), nullptr, nullptr,
                                msgpack::unpack_limit(common::render_spec::max_fields, common::render_spec::max_handlers,
                                                      common::render_spec::max_name, 0, 0, 3));
      auto s = common::render_spec::from_msgpack(oh.get());
      if (s) {
        spec = s.value();
      } else {
        why = "its render is not valid";
      }
    } catch (const std::exception&) {
      why = "its render is not msgpack within the render bounds";
    }
  }
  if (why) {
    ++stats_.routes_refused;
    static common::log_limiter limit;
    common::warn_limited(limit, "layerd", "worker route ignored channel={} worker={:.100} reason=\"{}\" "
                         "(its gateway forwards the member's events itself)", channel, w.worker, why);
    return std::nullopt;
  }
  return entry{channel, w.worker, std::move(spec)};
}

void worker_members::set(const std::string& group, const std::string& gateway, const std::string& conn,
                         const std::string& channel, const std::optional<proto::worker_route>& worker) {
  std::optional<entry> e = worker ? checked(channel, *worker) : std::nullopt;
  remove(group, gateway, conn);  // a restatement may change the spec: its bucket with it
  if (!e) return;
  auto& gm = groups_[group][gateway];
  const auto* spec = e->spec.get();
  gm.by_spec[spec].emplace(conn, std::move(*e));
  gm.spec_of[conn] = spec;
  ++members_;
  gateway_groups_[gateway].insert(group);
}

const std::string* worker_members::worker_of(const std::string& group, const std::string& gateway,
                                             const std::string& conn) const {
  auto g = groups_.find(group);
  if (g == groups_.end()) return nullptr;
  auto gw = g->second.find(gateway);
  if (gw == g->second.end()) return nullptr;
  auto at = gw->second.spec_of.find(conn);
  if (at == gw->second.spec_of.end()) return nullptr;
  const auto& bucket = gw->second.by_spec.at(at->second);
  return &bucket.at(conn).worker;
}

void worker_members::remove(const std::string& group, const std::string& gateway, const std::string& conn) {
  auto g = groups_.find(group);
  if (g == groups_.end()) return;
  auto gw = g->second.find(gateway);
  if (gw == g->second.end()) return;
  auto& gm = gw->second;
  auto at = gm.spec_of.find(conn);
  if (at == gm.spec_of.end()) return;
  auto bucket = gm.by_spec.find(at->second);
  bucket->second.erase(conn);
  if (bucket->second.empty()) gm.by_spec.erase(bucket);
  gm.spec_of.erase(at);
  --members_;
  if (!gm.spec_of.empty()) return;
  g->second.erase(gw);
  if (auto it = gateway_groups_.find(gateway); it != gateway_groups_.end()) {
    it->second.erase(group);
    if (it->second.empty()) gateway_groups_.erase(it);
  }
  if (g->second.empty()) groups_.erase(g);
}

void worker_members::forget_gateway(const std::string& gateway) {
  auto it = gateway_groups_.find(gateway);
  if (it == gateway_groups_.end()) return;
  for (const auto& group : it->second) {
    auto g = groups_.find(group);
    if (g == groups_.end()) continue;
    if (auto gw = g->second.find(gateway); gw != g->second.end()) {
      members_ -= gw->second.spec_of.size();
      g->second.erase(gw);
    }
    if (g->second.empty()) groups_.erase(g);
  }
  gateway_groups_.erase(it);
}

void worker_members::replace_gateway(const std::string& gateway,
                                     const std::vector<std::pair<std::string, std::vector<member>>>& groups) {
  forget_gateway(gateway);
  for (const auto& [group, members] : groups) {
    for (const auto& m : members) set(group, gateway, m.conn, m.channel, m.worker);
  }
}

worker_members::plan worker_members::plan_for(const std::string& group, std::string_view event,
                                              std::string_view type) const {
  plan out;
  auto g = groups_.find(group);
  if (g == groups_.end()) return out;
  // Whether a spec renders this event, asked once per distinct spec (they
  // are interned: thousands of sockets of one consumer class share one).
  std::vector<std::pair<const common::render_spec*, bool>> rendered;
  auto renders = [&](const common::render_spec* spec) {
    for (const auto& [s, r] : rendered) {
      if (s == spec) return r;
    }
    const bool r = spec->renders(event, type);
    rendered.emplace_back(spec, r);
    return r;
  };
  // W → its sockets, in first-seen order.
  std::vector<std::pair<std::string, std::vector<std::string>>> per_worker;
  std::unordered_map<std::string_view, std::size_t> worker_index;  // keys point into the entries
  for (const auto& [gateway, gm] : g->second) {
    std::vector<std::string>* done = nullptr;
    for (const auto& [spec, conns] : gm.by_spec) {
      if (renders(spec)) continue;  // the gateway renders it for this whole bucket
      if (!done) done = &out.forwarded[gateway];
      for (const auto& [conn, e] : conns) {
        done->push_back(conn);
        auto [w, fresh] = worker_index.try_emplace(e.worker, per_worker.size());
        if (fresh) per_worker.emplace_back(e.worker, std::vector<std::string>{});
        per_worker[w->second].second.push_back(e.channel);
      }
    }
  }
  const std::size_t per = common::worker_event_names(event.size());
  for (const auto& [worker, sockets] : per_worker) {
    for (std::size_t i = 0; i < sockets.size(); i += per) {
      const std::size_t n = std::min(per, sockets.size() - i);
      out.writes.push_back({worker, common::worker_event(sockets, i, n, event), n});
    }
  }
  return out;
}

}  // namespace sb::layerd
