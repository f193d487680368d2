// histogram.hpp — a fixed log-linear latency histogram (nanoseconds).
//
// Why this shape: workers measure millions of latencies and the parent must
// merge them exactly, so no samples are stored. Values below 32 get their own
// bucket; above that each power of two is split into 32 linear sub-buckets,
// so any quantile is within ~3% of the truth. The bucket layout is a
// compile-time constant, which makes merging a plain element-wise sum and the
// wire form a fixed-size array. Not thread-safe; each worker owns its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sb::bench {

class histogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr std::size_t sub_count = std::size_t{1} << sub_bits;
  static constexpr std::size_t bucket_count = sub_count + (64 - sub_bits) * sub_count;

  void record(std::uint64_t value);
  void merge(const histogram& other);
  void clear();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The upper edge of the bucket holding the q-th value (0 <= q <= 1),
  // clamped to the exact maximum.
  std::uint64_t quantile(double q) const;

  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t upper_edge(std::size_t index);

  // Raw state, for the worker -> parent wire form.
  std::array<std::uint64_t, bucket_count>& buckets() { return buckets_; }
  const std::array<std::uint64_t, bucket_count>& buckets() const { return buckets_; }
  std::uint64_t& raw_count() { return count_; }
  std::uint64_t& raw_min() { return min_; }
  std::uint64_t& raw_max() { return max_; }
  std::uint64_t& raw_sum() { return sum_; }
  std::uint64_t raw_min() const { return min_; }
  std::uint64_t raw_sum() const { return sum_; }

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace sb::bench
