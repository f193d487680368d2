// prometheus.hpp — the text that /metrics serves (Prometheus exposition
// format 0.0.4), for the gateway and layerd alike.
//
// A family is its # HELP and # TYPE lines followed by its samples. Values
// are written as the shortest text that reads back exactly, so counters
// print as integers; label values are escaped as the format asks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb::common {

// The bucket a value falls in for histogram(): the first i with
// value <= bounds[i], or n (the +Inf bucket) above the last bound.
inline std::size_t histogram_bucket(const double* bounds, std::size_t n, double value) {
  std::size_t b = 0;
  while (b < n && value > bounds[b]) ++b;
  return b;
}

class prometheus_text {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help);
  // labels: "" or `{key="value",...}` (label_value() escapes a value).
  void sample(std::string_view name, double value, std::string_view labels = {});
  // A family with one unlabelled sample.
  void single(std::string_view name, std::string_view type, std::string_view help, double value);
  // A histogram from per-bucket counts: counts[i] for values <= bounds[i]
  // (and above bounds[i-1]), counts[n] above the last bound; bounds in the
  // metric's unit. Written cumulative, with _sum and _count.
  void histogram(std::string_view name, std::string_view help, const double* bounds, const std::uint64_t* counts,
                 std::size_t n, double sum);

  static std::string label_value(std::string_view v);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace sb::common
