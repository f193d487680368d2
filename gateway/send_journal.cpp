// send_journal.cpp — see send_journal.hpp.
#include "gateway/send_journal.hpp"

#include <algorithm>

namespace sb::gateway {

std::pair<std::size_t, std::size_t> send_journal::acked(std::size_t link, std::uint64_t seq) {
  auto& q = unacked_[link];
  std::size_t bytes = 0, n = 0;
  // seqs on a link only grow, so a stale or repeated ack releases nothing
  while (!q.empty() && q.front().seq <= seq) {
    bytes += q.front().cost();
    ++n;
    q.pop_front();
  }
  return {bytes, n};
}

void send_journal::pop_front() {
  if (auto it = parked_groups_.find(parked_.front().group); it != parked_groups_.end() && --it->second == 0) {
    parked_groups_.erase(it);
  }
  parked_.pop_front();
}

std::size_t send_journal::park_link(std::size_t link) {
  auto& q = unacked_[link];
  const std::size_t n = q.size();
  if (n == 0) return 0;
  // A link's sends are in id order except that re-sent ones (older ids)
  // may follow newer ones sent on it before the failover: sort, then
  // everything waits in the order the gateway accepted it.
  for (auto& e : q) {
    ++parked_groups_[e.group];
    parked_.push_back(std::move(e));
  }
  q.clear();
  std::stable_sort(parked_.begin(), parked_.end(), [](const entry& a, const entry& b) { return a.id < b.id; });
  return n;
}

}  // namespace sb::gateway
