// group_store.cpp — see group_store.hpp.
#include "layerd/group_store.hpp"

#include "common/names.hpp"

namespace sb::layerd {

bool group_store::add(const std::string& group, const std::string& gateway, const std::string& conn, double now) {
  auto& c = groups_[group][gateway];
  auto [it, inserted] = c.try_emplace(conn, now);
  if (inserted) {
    ++members_;
    by_gateway_[gateway].insert(group);
  }
  return inserted;
}

bool group_store::remove(const std::string& group, const std::string& gateway, const std::string& conn) {
  auto g = groups_.find(group);
  if (g == groups_.end()) return false;
  auto gw = g->second.find(gateway);
  if (gw == g->second.end()) return false;
  if (gw->second.erase(conn) == 0) return false;
  --members_;
  if (gw->second.empty()) {
    g->second.erase(gw);
    if (auto b = by_gateway_.find(gateway); b != by_gateway_.end()) {
      b->second.erase(group);
      if (b->second.empty()) by_gateway_.erase(b);
    }
    if (g->second.empty()) groups_.erase(g);
  }
  return true;
}

group_store::diff group_store::replace_gateway(
    const std::string& gateway, const std::vector<std::pair<std::string, std::vector<std::string>>>& groups,
    double now) {
  diff d;
  // Wanted membership, as a set per group.
  std::unordered_map<std::string, std::unordered_set<std::string>> want;
  for (const auto& [group, list] : groups) {
    auto& w = want[group];
    w.insert(list.begin(), list.end());
  }
  // Remove what is no longer wanted.
  if (auto b = by_gateway_.find(gateway); b != by_gateway_.end()) {
    const std::vector<std::string> had(b->second.begin(), b->second.end());
    for (const auto& group : had) {
      const auto* members = find(group);
      if (!members) continue;
      auto gw = members->find(gateway);
      if (gw == members->end()) continue;
      std::vector<std::string> drop;
      auto w = want.find(group);
      for (const auto& [conn, joined] : gw->second) {
        if (w == want.end() || !w->second.count(conn)) drop.push_back(conn);
      }
      for (const auto& conn : drop) {
        remove(group, gateway, conn);
        d.removed.emplace_back(group, common::make_channel(gateway, conn));
      }
    }
  }
  // Add what is new.
  for (const auto& [group, set] : want) {
    for (const auto& conn : set) {
      if (add(group, gateway, conn, now)) d.added.emplace_back(group, common::make_channel(gateway, conn));
    }
  }
  return d;
}

group_store::changes group_store::remove_gateway(const std::string& gateway) {
  changes out;
  auto b = by_gateway_.find(gateway);
  if (b == by_gateway_.end()) return out;
  const std::vector<std::string> had(b->second.begin(), b->second.end());
  for (const auto& group : had) {
    auto g = groups_.find(group);
    if (g == groups_.end()) continue;
    auto gw = g->second.find(gateway);
    if (gw == g->second.end()) continue;
    for (const auto& [conn, joined] : gw->second) out.emplace_back(group, common::make_channel(gateway, conn));
    members_ -= gw->second.size();
    g->second.erase(gw);
    if (g->second.empty()) groups_.erase(g);
  }
  by_gateway_.erase(gateway);
  return out;
}

const group_store::group_members* group_store::find(const std::string& group) const {
  auto g = groups_.find(group);
  return g == groups_.end() ? nullptr : &g->second;
}

void group_store::for_each_group(
    const std::function<void(const std::string&, std::vector<std::string>&&)>& fn) const {
  for (const auto& [group, members] : groups_) {
    std::vector<std::string> channels;
    for (const auto& [gateway, c] : members) {
      for (const auto& [conn, joined] : c) channels.push_back(common::make_channel(gateway, conn));
    }
    fn(group, std::move(channels));
  }
}

}  // namespace sb::layerd
