// result_sink.cpp — see result_sink.hpp.
#include "bench/result_sink.hpp"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace sb::bench {

namespace {

std::string scalar(const nlohmann::ordered_json& v) {
  if (v.is_number_float()) {
    char buf[64];
    const double d = v.get<double>();
    std::snprintf(buf, sizeof buf, d != 0 && (d < 0.01 && d > -0.01) ? "%.6g" : "%.4f", d);
    std::string s = buf;
    if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s;
  }
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void flatten(const nlohmann::ordered_json& obj, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) flatten(*it, key, out);
    else out.emplace_back(key, scalar(*it));
  }
}

std::string field(const nlohmann::ordered_json& j, const char* a, const char* b) {
  if (!j.contains(a) || !j[a].contains(b)) return "-";
  return scalar(j[a][b]);
}

}  // namespace

void result_sink::human(const std::string& text) {
  if (opt_.table_on_stdout) {
    std::cout << text << std::flush;
  } else if (!opt_.quiet) {
    std::cerr << text << std::flush;
  }
}

void result_sink::progress(const std::string& text) {
  if (!opt_.quiet) std::cerr << "switchboard-bench: " << text << "\n" << std::flush;
}

void result_sink::emit(const nlohmann::ordered_json& result) {
  if (!opt_.table_on_stdout) std::cout << result.dump() << "\n" << std::flush;
  std::ostringstream os;
  os << "\n== " << result.value("scenario", "?") << " / " << result.value("phase", "?");
  if (result.contains("step")) os << " " << result["step"].dump();
  os << "\n";
  for (const char* part : {"params", "metrics"}) {
    if (!result.contains(part)) continue;
    std::vector<std::pair<std::string, std::string>> rows;
    flatten(result[part], "", rows);
    os << "  " << part << ":\n";
    for (const auto& [k, v] : rows) {
      if (k.rfind("failures.", 0) == 0 && v == "0") continue;  // the JSON has them all
      char line[256];
      std::snprintf(line, sizeof line, "    %-34s %s\n", k.c_str(), v.c_str());
      os << line;
    }
  }
  human(os.str());
}

void result_sink::step_table(const std::vector<nlohmann::ordered_json>& steps) {
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "\n%4s %10s %7s %9s %12s %8s %9s %9s %9s %10s %6s %5s\n", "step", "rate/s",
                "senders", "members", "deliv/s", "ratio", "p50 ms", "p99 ms", "max ms", "srv us/dl", "bench", "ok");
  os << line;
  for (const auto& s : steps) {
    std::snprintf(line, sizeof line, "%4s %10s %7s %9s %12s %8s %9s %9s %9s %10s %6s %5s\n", scalar(s["step"]).c_str(),
                  field(s, "params", "rate").c_str(), field(s, "params", "senders").c_str(),
                  field(s, "metrics", "members_open").c_str(), field(s, "metrics", "deliveries_per_s").c_str(),
                  field(s, "metrics", "delivery_ratio").c_str(), field(s, "metrics", "latency_p50_ms").c_str(),
                  field(s, "metrics", "latency_p99_ms").c_str(), field(s, "metrics", "latency_max_ms").c_str(),
                  field(s, "metrics", "server_cpu_us_per_delivery").c_str(),
                  field(s, "metrics", "bench_cpu_cores").c_str(), field(s, "metrics", "sustainable").c_str());
    os << line;
  }
  human(os.str());
}

}  // namespace sb::bench
