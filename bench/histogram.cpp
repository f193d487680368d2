// histogram.cpp — see histogram.hpp.
#include "bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sb::bench {

std::size_t histogram::index_of(std::uint64_t value) {
  if (value < sub_count) return static_cast<std::size_t>(value);
  const unsigned top = 63u - static_cast<unsigned>(std::countl_zero(value));  // >= sub_bits
  const std::uint64_t sub = (value >> (top - sub_bits)) - sub_count;          // 0 .. sub_count-1
  return sub_count + (top - sub_bits) * sub_count + static_cast<std::size_t>(sub);
}

std::uint64_t histogram::upper_edge(std::size_t index) {
  if (index < sub_count) return index;
  const std::size_t k = index - sub_count;
  const unsigned shift = static_cast<unsigned>(k / sub_count);
  const std::uint64_t sub = k % sub_count;
  const std::uint64_t next = sub_count + sub + 1;  // <= 2 * sub_count
  if (shift + sub_bits + 1 >= 64 && next == 2 * sub_count) return UINT64_MAX;
  return (next << shift) - 1;
}

void histogram::record(std::uint64_t value) {
  ++buckets_[index_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void histogram::merge(const histogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::clear() { *this = histogram{}; }

std::uint64_t histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

}  // namespace sb::bench
