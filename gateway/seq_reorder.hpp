// seq_reorder.hpp — a Django socket's worker messages, applied in `seq`
// order (docs/protocol.md, Part 3, Order).
//
// Several layerds drain the gateway's inbox, so a worker's messages about
// one socket may arrive out of order; each carries seq 1, 2, 3, ... A
// message ahead of its turn waits, bounded in number (max_waiting), in
// bytes (max_waiting_bytes: 256 messages of 1 MiB would otherwise be a
// quarter of a gigabyte per socket) and in time (max_gap): a gap that does
// not fill, or too much waiting, ends the socket (1011). A seq already
// applied is a duplicate.
//
// Pure; not thread-safe (one per socket, in its door on hub thread 0:
// worker_door.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace sb::gateway {

template <class T>
class seq_reorder {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t max_waiting = 256;
  static constexpr std::size_t max_waiting_bytes = 8 * 1024 * 1024;
  static constexpr std::chrono::milliseconds max_gap{2000};

  enum class verdict { apply, waiting, duplicate, overflow };

  // `apply`: `m` is next; apply it, then drain pop_ready(). `waiting`: kept
  // until its turn. `duplicate`: dropped. `overflow`: too many waiting.
  // `bytes`: what keeping m costs (its encoded size).
  verdict offer(std::uint64_t seq, T&& m, clock::time_point now, std::size_t bytes = 0) {
    if (seq < next_ || waiting_.count(seq)) return verdict::duplicate;
    if (seq == next_) {
      ++next_;
      ready_ = std::move(m);
      return verdict::apply;
    }
    if (waiting_.size() >= max_waiting || waiting_bytes_ + bytes > max_waiting_bytes) return verdict::overflow;
    if (waiting_.empty()) gap_since_ = now;
    waiting_.emplace(seq, std::make_pair(std::move(m), bytes));
    waiting_bytes_ += bytes;
    return verdict::waiting;
  }
  // The message offer() said to apply.
  T take_ready() { return std::move(*ready_); }
  // The next waiting message whose turn has come, if any.
  std::optional<T> pop_ready(clock::time_point now) {
    auto it = waiting_.begin();
    if (it == waiting_.end() || it->first != next_) return std::nullopt;
    T m = std::move(it->second.first);
    waiting_bytes_ -= it->second.second;
    waiting_.erase(it);
    ++next_;
    gap_since_ = now;  // what still waits waits for a newer gap
    return m;
  }
  // A gap older than max_gap.
  bool gap_expired(clock::time_point now) const { return !waiting_.empty() && now - gap_since_ > max_gap; }
  std::size_t waiting() const { return waiting_.size(); }
  std::uint64_t next() const { return next_; }

 private:
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, std::pair<T, std::size_t>> waiting_;
  std::size_t waiting_bytes_ = 0;
  std::optional<T> ready_;
  clock::time_point gap_since_{};
};

}  // namespace sb::gateway
