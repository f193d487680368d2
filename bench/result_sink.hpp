// result_sink.hpp — where results go: one JSON line each on stdout, and a
// readable rendering on stderr (or on stdout instead of JSON with --table).
//
// Why this shape: machines read the JSON lines (one self-contained object
// per result: scenario, phase, params, metrics), people read the table; both
// come from the same object so they can never disagree. Progress notes go
// to stderr only. Parent process only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"

namespace sb::bench {

class result_sink {
 public:
  explicit result_sink(const bench_options& opt) : opt_(opt) {}

  void emit(const nlohmann::ordered_json& result);
  void progress(const std::string& text);
  // A column table of fanout steps (people only).
  void step_table(const std::vector<nlohmann::ordered_json>& steps);

 private:
  void human(const std::string& text);
  const bench_options& opt_;
};

}  // namespace sb::bench
