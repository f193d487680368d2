// event_cost.cpp — CPU time of the event conversions for events of growing
// size, to show their cost is linear (the time per item stays flat).
//
//   sb_event_cost [KEYS ...]   (default 5000 10000 20000 40000 60000)
//
// For each KEYS: a notify event whose "data" is a map of KEYS short keys
// (the shape of the event that once froze a gateway), then the same number
// of array items. Prints, per shape: msgpack bytes, check_event and
// browser_frame_for_event µs per event and ns per item; and
// event_from_json for the JSON text of the map. Each figure is the best of
// a few rounds (the machine is shared). Linked against common/event.cpp, so
// building it against another copy of that file compares two versions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "common/event.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// {"type": "notify", "data": D}, with D packed by pack_data.
template <class F>
std::string notify_event(F&& pack_data) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack(std::string_view("type"));
  pk.pack(std::string_view("notify"));
  pk.pack(std::string_view("data"));
  pack_data(pk);
  return std::string(buf.data(), buf.size());
}

std::string map_event(std::size_t n) {
  return notify_event([n](msgpack::packer<msgpack::sbuffer>& pk) {
    pk.pack_map(static_cast<std::uint32_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      pk.pack("key" + std::to_string(i));
      pk.pack(i);
    }
  });
}

std::string array_event(std::size_t n) {
  return notify_event([n](msgpack::packer<msgpack::sbuffer>& pk) {
    pk.pack_array(static_cast<std::uint32_t>(n));
    for (std::size_t i = 0; i < n; ++i) pk.pack(i);
  });
}

std::string map_json(std::size_t n) {
  std::string s = R"({"type": "notify", "data": {)";
  for (std::size_t i = 0; i < n; ++i) s += (i ? ",\"key" : "\"key") + std::to_string(i) + "\":" + std::to_string(i);
  return s + "}}";
}

// Best of `rounds` timings of f(), in µs.
template <class F>
double best_us(int rounds, F&& f) {
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = clock_type::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  return best;
}

void row(const char* shape, std::size_t n, const std::string& ev, int rounds) {
  bool ok = true;
  const double check = best_us(rounds, [&] { ok = sb::common::event_type(ev) && ok; });
  const double frame = best_us(rounds, [&] { ok = sb::common::browser_frame_for_event(ev) && ok; });
  std::printf("%-6s items=%-6zu bytes=%-8zu check_us=%-9.1f frame_us=%-10.1f frame_ns_per_item=%-7.1f%s\n", shape, n,
              ev.size(), check, frame, frame * 1000.0 / static_cast<double>(n), ok ? "" : " REFUSED");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> counts;
  for (int i = 1; i < argc; ++i) counts.push_back(std::strtoull(argv[i], nullptr, 10));
  if (counts.empty()) counts = {5000, 10000, 20000, 40000, 60000};
  for (std::size_t n : counts) {
    const int rounds = n > 20000 ? 3 : 5;
    row("map", n, map_event(n), rounds);
    row("array", n, array_event(n), rounds);
    const std::string json = map_json(n);
    bool ok = true;
    const double us = best_us(rounds, [&] { ok = static_cast<bool>(sb::common::event_from_json(json)) && ok; });
    std::printf("json   items=%-6zu bytes=%-8zu from_json_us=%-9.1f ns_per_item=%-7.1f%s\n", n, json.size(), us,
                us * 1000.0 / static_cast<double>(n), ok ? "" : " REFUSED");
  }
  return 0;
}
