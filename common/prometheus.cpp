// prometheus.cpp — see prometheus.hpp.
#include "common/prometheus.hpp"

#include <charconv>

namespace sb::common {
namespace {

// The shortest text that reads back as the same double: counters print as
// integers, 0.1 as 0.1.
std::string number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

void prometheus_text::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void prometheus_text::sample(std::string_view name, double value, std::string_view labels) {
  out_.append(name).append(labels).append(" ").append(number(value)).append("\n");
}

void prometheus_text::single(std::string_view name, std::string_view type, std::string_view help, double value) {
  family(name, type, help);
  sample(name, value);
}

void prometheus_text::histogram(std::string_view name, std::string_view help, const double* bounds,
                                const std::uint64_t* counts, std::size_t n, double sum) {
  family(name, "histogram", help);
  const std::string bucket = std::string(name).append("_bucket");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= n; ++i) {
    cumulative += counts[i];
    const std::string le = i < n ? number(bounds[i]) : std::string("+Inf");
    sample(bucket, static_cast<double>(cumulative), std::string("{le=\"").append(le).append("\"}"));
  }
  sample(std::string(name).append("_sum"), sum);
  sample(std::string(name).append("_count"), static_cast<double>(cumulative));
}

std::string prometheus_text::label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace sb::common
