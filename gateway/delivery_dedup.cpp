// delivery_dedup.cpp — see delivery_dedup.hpp.
#include "gateway/delivery_dedup.hpp"

namespace sb::gateway {

bool delivery_dedup::admit(std::string_view origin, std::string_view group, std::uint64_t id, clock::time_point now) {
  std::string key;
  key.reserve(origin.size() + 1 + group.size());
  key.append(origin).push_back('\n');  // neither a run id nor a group name holds a newline
  key.append(group);
  auto it = seen_.find(key);
  if (it == seen_.end()) {
    if (seen_.size() >= max_keys_) {
      ++untracked_;
      return true;
    }
    seen_.emplace(std::move(key), entry{id, 1, now});
    return true;
  }
  auto& e = it->second;
  e.last = now;
  if (id > e.high) {
    const auto shift = id - e.high;
    e.bits = shift >= window ? 1 : (e.bits << shift) | 1;
    e.high = id;
    return true;
  }
  const auto back = e.high - id;
  if (back >= window) return false;
  const std::uint64_t bit = std::uint64_t{1} << back;
  if (e.bits & bit) return false;
  e.bits |= bit;
  return true;
}

void delivery_dedup::expire(clock::time_point now) {
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (now - it->second.last > idle_) {
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace sb::gateway
