// hash_ring.cpp — see hash_ring.hpp.
#include "common/hash_ring.hpp"

#include <algorithm>

namespace sb::common {

std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

hash_ring::hash_ring(std::vector<std::string> nodes, unsigned vnodes) : nodes_(std::move(nodes)) {
  points_.reserve(nodes_.size() * vnodes);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (unsigned v = 0; v < vnodes; ++v) {
      points_.push_back({stable_hash(nodes_[i] + "#" + std::to_string(v)), i});
    }
  }
  std::sort(points_.begin(), points_.end(), [](const point& a, const point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.node < b.node;
  });
}

std::optional<std::size_t> hash_ring::owner(std::string_view key, const std::vector<bool>& alive) const {
  if (points_.empty()) return std::nullopt;
  const std::uint64_t h = stable_hash(key);
  auto start = std::lower_bound(points_.begin(), points_.end(), h,
                                [](const point& p, std::uint64_t v) { return p.hash < v; });
  const std::size_t first = static_cast<std::size_t>(start - points_.begin());
  for (std::size_t k = 0; k < points_.size(); ++k) {
    const point& p = points_[(first + k) % points_.size()];
    if (p.node < alive.size() && alive[p.node]) return p.node;
  }
  return std::nullopt;
}

}  // namespace sb::common
