// send_journal.hpp — the group_sends a gateway has not yet seen a layerd
// acknowledge, per link, and the ones waiting to be (re-)sent.
//
// Why: a group_send accepted from a browser must not vanish when its
// layerd dies (docs/architecture.md, rule 7). Each send sent on a link is
// kept, in link order, until the layerd's cumulative SEND_ACK covers its
// seq. When the link goes down, its unacknowledged sends are parked (merged
// with any already parked, in id order, which is the order they were
// accepted in), and the layer link sends the parked ones again, in that
// order, to each group's new owner before any newer send. A send that
// ZeroMQ refused (the owner's connection is gone but not yet declared down)
// is parked too, so it is neither lost nor overtaken. Byte and message
// totals are kept by the caller (layer_link), which bounds them.
//
// Threading: hub thread 0 only (the layer link's). Pure logic, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace sb::gateway {

class send_journal {
 public:
  struct entry {
    std::uint64_t id = 0;   // the gateway's number for the send: its order, kept across re-sends
    std::uint64_t seq = 0;  // the link's number when it was last sent
    std::string group;
    std::string event;
    std::size_t cost() const { return group.size() + event.size(); }
  };

  explicit send_journal(std::size_t links) : unacked_(links), next_seq_(links, 1) {}

  // The seq the next send on `link` gets.
  std::uint64_t take_seq(std::size_t link) { return next_seq_[link]++; }
  // `e` (with its seq) went out on `link`.
  void sent(std::size_t link, entry e) { unacked_[link].push_back(std::move(e)); }
  // The link's layerd has handled every send up to `seq`: returns the bytes
  // (group + event) and the number of sends released.
  std::pair<std::size_t, std::size_t> acked(std::size_t link, std::uint64_t seq);
  // The link went down: its unacknowledged sends join the parked ones, in id order.
  std::size_t park_link(std::size_t link);
  // A send that could not go out now; waits, after every earlier one.
  void park(entry e) {
    ++parked_groups_[e.group];
    parked_.push_back(std::move(e));
  }
  // The oldest parked send, and taking it off once it went out.
  entry& front() { return parked_.front(); }
  void pop_front();

  const std::deque<entry>& parked() const { return parked_; }
  bool has_parked() const { return !parked_.empty(); }
  std::size_t parked_count() const { return parked_.size(); }
  // Whether a send of `group` waits: a newer one must wait behind it.
  bool holds(const std::string& group) const { return parked_groups_.count(group) != 0; }
  std::size_t unacked(std::size_t link) const { return unacked_[link].size(); }

 private:
  std::vector<std::deque<entry>> unacked_;
  std::vector<std::uint64_t> next_seq_;
  std::deque<entry> parked_;
  std::unordered_map<std::string, std::size_t> parked_groups_;  // group → parked sends of it
};

}  // namespace sb::gateway
