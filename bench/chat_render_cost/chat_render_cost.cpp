// chat_render_cost.cpp — what stamping the sender costs a chat message:
// the browser frame -> event step (chat_event_from_browser, once per
// message, on the sender's gateway) and the event -> browser frame step
// (browser_frame_for_event, once per message per gateway), each for the
// seed's event {"type", "message"} and for the stamped one with "user"
// (and with a history "id" and "ts" as well), at a few message sizes.
//
//   sb_chat_render_cost [BYTES ...]   (default 16 256 4096)
//
// Prints µs per call (best of a few rounds: the machine is shared) and the
// stamped/seed ratio, which is the figure to read: both sides run in the
// same process, one after the other.
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

template <class F>
double best_us(int calls, F&& f) {
  double best = 1e18;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = clock_type::now();
    for (int i = 0; i < calls; ++i) f();
    const double us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / calls;
    best = std::min(best, us);
  }
  return best;
}

// The stamped event plus a history id and ts, as the owning layerd would send it on.
std::string with_history(const std::string& text, const sb::common::chat_sender& who) {
  auto ev = sb::common::chat_event_from_browser(text, &who).event;
  msgpack::object_handle oh = msgpack::unpack(ev.data(), ev.size());
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  const auto& m = oh.get().via.map;
  pk.pack_map(m.size + 2);
  for (std::uint32_t i = 0; i < m.size; ++i) {
    pk.pack(m.ptr[i].key);
    pk.pack(m.ptr[i].val);
  }
  pk.pack(std::string_view("id"));
  pk.pack(std::string_view("1764576000123-0"));
  pk.pack(std::string_view("ts"));
  pk.pack(std::uint64_t{1764576000123});
  return std::string(buf.data(), buf.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {16, 256, 4096};
  const sb::common::chat_sender who{"42", "Kim Lee", false};
  std::printf("%8s  %-26s %10s %10s %10s\n", "bytes", "step", "seed_us", "stamped_us", "ratio");
  for (const auto n : sizes) {
    const std::string text = "{\"message\": \"" + std::string(n, 'x') + "\"}";
    const int calls = n > 1000 ? 20000 : 100000;
    bool ok = true;
    const double in_seed = best_us(calls, [&] { ok = sb::common::chat_event_from_browser(text).ok && ok; });
    const double in_stamped = best_us(calls, [&] { ok = sb::common::chat_event_from_browser(text, &who).ok && ok; });
    const auto seed_ev = sb::common::chat_event_from_browser(text).event;
    const auto stamped_ev = sb::common::chat_event_from_browser(text, &who).event;
    const auto history_ev = with_history(text, who);
    const double out_seed = best_us(calls, [&] { ok = bool(sb::common::browser_frame_for_event(seed_ev)) && ok; });
    const double out_stamped = best_us(calls, [&] { ok = bool(sb::common::browser_frame_for_event(stamped_ev)) && ok; });
    const double out_history = best_us(calls, [&] { ok = bool(sb::common::browser_frame_for_event(history_ev)) && ok; });
    if (!ok) {
      std::fprintf(stderr, "a conversion failed\n");
      return 1;
    }
    std::printf("%8zu  %-26s %10.3f %10.3f %10.2f\n", n, "frame->event", in_seed, in_stamped, in_stamped / in_seed);
    std::printf("%8zu  %-26s %10.3f %10.3f %10.2f\n", n, "event->frame (user)", out_seed, out_stamped, out_stamped / out_seed);
    std::printf("%8zu  %-26s %10.3f %10.3f %10.2f\n", n, "event->frame (user,id,ts)", out_seed, out_history,
                out_history / out_seed);
  }
  return 0;
}
