// score_clock.cpp — see score_clock.hpp.
#include "layerd/score_clock.hpp"

#include <cmath>
#include <cstdio>

namespace sb::layerd {

std::string score_clock::next(double unix_seconds) {
  auto us = static_cast<std::int64_t>(std::llround(unix_seconds * 1e6));
  if (us <= last_us_) us = last_us_ + 1;
  last_us_ = us;
  // Formatted from the integer, so the text is exactly the microsecond
  // chosen (a double's "%.6f" could round two neighbours to one text).
  char buf[40];
  const auto whole = us / 1000000;
  const auto frac = us % 1000000;
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(whole), static_cast<long long>(frac));
  return buf;
}

}  // namespace sb::layerd
