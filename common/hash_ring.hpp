// hash_ring.hpp — consistent hash of group names over the layerd list.
//
// Every operation on a group must reach one layerd so all members see one
// order (docs/architecture.md, rule 1). Each layerd endpoint owns `vnodes` points on
// a 64-bit ring, labelled by the endpoint string itself, so gateways agree
// on owners whatever order they list layerds in, as long as they spell the
// endpoints the same way. When a node is down its groups move to the next
// live point clockwise; the other groups stay where they were.
//
// Not thread-safe; the gateway's layer link thread owns its ring.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::common {

// 64-bit FNV-1a followed by a splitmix64 finaliser: stable across
// platforms and runs, well spread for short names.
std::uint64_t stable_hash(std::string_view s);

class hash_ring {
 public:
  explicit hash_ring(std::vector<std::string> nodes, unsigned vnodes = 64);

  std::size_t size() const { return nodes_.size(); }
  const std::string& node(std::size_t i) const { return nodes_[i]; }

  // The node that owns `key` among the nodes for which alive[i] is true;
  // nullopt when none is alive. alive.size() must equal size().
  std::optional<std::size_t> owner(std::string_view key, const std::vector<bool>& alive) const;

 private:
  struct point {
    std::uint64_t hash;
    std::size_t node;
  };
  std::vector<std::string> nodes_;
  std::vector<point> points_;  // sorted by hash
};

}  // namespace sb::common
