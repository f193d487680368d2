// prometheus_test.cpp — the /metrics text: families, samples, histograms, escaping.
#include "common/prometheus.hpp"

#include <gtest/gtest.h>

namespace sb::common {
namespace {

TEST(PrometheusText, FamilyAndSamplesInTheExpositionFormat) {
  prometheus_text p;
  p.single("sb_things", "gauge", "Things.", 3);
  p.family("sb_closes_total", "counter", "Closes by reason.");
  p.sample("sb_closes_total", 12345678901234.0, "{reason=\"binary\"}");
  p.sample("sb_closes_total", 0.25, "{reason=\"x\"}");
  EXPECT_EQ(p.take(),
            "# HELP sb_things Things.\n# TYPE sb_things gauge\nsb_things 3\n"
            "# HELP sb_closes_total Closes by reason.\n# TYPE sb_closes_total counter\n"
            "sb_closes_total{reason=\"binary\"} 12345678901234\nsb_closes_total{reason=\"x\"} 0.25\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithSumAndCount) {
  prometheus_text p;
  const double bounds[] = {0.001, 0.01};
  const std::uint64_t counts[] = {2, 0, 5};
  p.histogram("sb_t_seconds", "Times.", bounds, counts, 2, 1.5);
  EXPECT_EQ(p.take(),
            "# HELP sb_t_seconds Times.\n# TYPE sb_t_seconds histogram\n"
            "sb_t_seconds_bucket{le=\"0.001\"} 2\nsb_t_seconds_bucket{le=\"0.01\"} 2\n"
            "sb_t_seconds_bucket{le=\"+Inf\"} 7\nsb_t_seconds_sum 1.5\nsb_t_seconds_count 7\n");
}

TEST(PrometheusText, AValueGoesToTheFirstBucketWhoseBoundHoldsIt) {
  const double bounds[] = {1, 2.5, 10};
  EXPECT_EQ(sb::common::histogram_bucket(bounds, 3, 0.2), 0u);
  EXPECT_EQ(sb::common::histogram_bucket(bounds, 3, 1), 0u);  // bounds are inclusive ("le")
  EXPECT_EQ(sb::common::histogram_bucket(bounds, 3, 1.01), 1u);
  EXPECT_EQ(sb::common::histogram_bucket(bounds, 3, 10), 2u);
  EXPECT_EQ(sb::common::histogram_bucket(bounds, 3, 11), 3u);  // +Inf
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_text::label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(prometheus_text::label_value("redis://h:6379/0"), "redis://h:6379/0");
}

}  // namespace
}  // namespace sb::common
