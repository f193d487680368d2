// coordinator.cpp — see coordinator.hpp. Parent process, one thread.
#include "bench/coordinator.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "bench/ipc.hpp"
#include "bench/report_util.hpp"
#include "bench/server_probe.hpp"

namespace sb::bench {

coordinator::coordinator(const bench_options& opt)
    : opt_(opt),
      out_(opt),
      run_deadline_ns_(monotonic_ns() + secs_to_ns(opt.deadline_s)),
      fleet_(opt, out_, run_deadline_ns_),
      phases_(opt, fleet_, out_, run_deadline_ns_) {}

nlohmann::ordered_json coordinator::base_params() const {
  nlohmann::ordered_json p;
  std::vector<std::string> urls;
  for (const auto& u : opt_.urls) urls.push_back("ws://" + u.host_port);
  p["urls"] = urls;
  p["workers"] = fleet_.count();
  if (opt_.busy_poll_us > 0) p["busy_poll_us"] = opt_.busy_poll_us;
  p["source_ips"] = opt_.source_ips.size();
  return p;
}

nlohmann::ordered_json coordinator::result(const char* phase, nlohmann::ordered_json params,
                                           nlohmann::ordered_json metrics) const {
  return result_line(opt_, phase, std::move(params), std::move(metrics));
}

void coordinator::abort_line(const std::string& why) {
  nlohmann::ordered_json m;
  m["error"] = why;
  out_.emit(result("aborted", base_params(), m));
}

// ---------------------------------------------------------------- scenarios

int coordinator::run() {
  switch (opt_.what) {
    case scenario::idle: return run_idle();
    case scenario::fanout: return run_fanout();
    case scenario::rooms: return run_rooms();
    case scenario::churn: return run_churn();
  }
  return 2;
}

int coordinator::run_idle() {
  const std::uint64_t n = opt_.clients;
  if (!fleet_.plan(n, 0)) return 2;
  const server_sample before = sample_servers(opt_.server_pids);
  if (!fleet_.spawn(n, opt_.room_size, 0)) return 1;
  nlohmann::ordered_json m;
  std::uint64_t opened = 0;
  if (!phases_.connect(n, opt_.room_size, m, opened)) {
    abort_line("connect phase failed");
    return 1;
  }
  out_.progress("opened " + std::to_string(opened) + "; settling " + num(opt_.settle_s) + " s");
  sleep_until_ns(std::min(monotonic_ns() + secs_to_ns(opt_.settle_s), run_deadline_ns_));
  const server_sample after = sample_servers(opt_.server_pids);
  if (!opt_.server_pids.empty()) {
    m["server_pids_ok"] = before.ok && after.ok;
    m["server_rss_before_kb"] = before.rss_kb;
    m["server_rss_after_kb"] = after.rss_kb;
    const double per = opened ? (static_cast<double>(after.rss_kb) - static_cast<double>(before.rss_kb)) * 1024.0 /
                                    static_cast<double>(opened)
                              : 0.0;
    m["server_rss_per_conn_bytes"] = round_to(per, 1);
  }
  if (opt_.duration_s > 0) {
    out_.progress("holding for " + num(opt_.duration_s) + " s");
    sleep_until_ns(std::min<std::uint64_t>(monotonic_ns() + secs_to_ns(opt_.duration_s), run_deadline_ns_ - 2'000'000'000ull));
  }
  std::vector<std::string> bodies;
  if (!fleet_.broadcast(msg_type::cmd_status, {}) || !fleet_.gather(msg_type::rep_status, bodies)) {
    abort_line("status failed");
    return 1;
  }
  status_report total;
  for (const auto& b : bodies) {
    status_report s;
    if (!decode_pod(b, s)) return 1;
    total.open += s.open;
    total.closed_by_server += s.closed_by_server;
    total.protocol_errors += s.protocol_errors;
  }
  m["held_seconds"] = opt_.duration_s;
  m["open_after_hold"] = total.open;
  m["closed_by_server"] = total.closed_by_server;
  m["protocol_errors"] = total.protocol_errors;
  auto p = base_params();
  p["clients"] = n;
  p["room_size"] = opt_.room_size;
  p["server_pids"] = opt_.server_pids;
  out_.emit(result("result", p, m));
  fleet_.close();
  return 0;
}

int coordinator::run_fanout() {
  const std::uint32_t m = opt_.members;
  if (!fleet_.plan(m, 0)) return 2;
  if (!fleet_.spawn(m, m, 0)) return 1;
  nlohmann::ordered_json cm;
  std::uint64_t opened = 0;
  auto p = base_params();
  p["members"] = m;
  if (!opt_.sender_path.empty()) p["sender_path"] = opt_.sender_path;
  p["server_pids"] = opt_.server_pids;
  if (!phases_.connect(m, m, cm, opened)) {
    abort_line("connect phase failed");
    return 1;
  }
  out_.emit(result("connect", p, cm));
  if (opened == 0) {
    abort_line("no connection opened");
    fleet_.close();
    return 1;
  }
  std::vector<double> rates = opt_.rates;
  const bool automatic = rates.empty();
  if (automatic)
    for (double r = opt_.rate_start; r <= opt_.rate_max * 1.000001 && rates.size() < 64; r *= 2) rates.push_back(r);

  std::vector<nlohmann::ordered_json> steps;
  std::vector<double> step_rates;  // the rate of steps[k]
  double best = 0, best_rate = 0;
  std::string stop = "rates_exhausted";
  bool broken = false;
  auto run_step = [&](std::uint32_t number, double rate, double seconds = 0) {
    auto senders = static_cast<std::uint32_t>(std::max<double>(opt_.senders, std::ceil(rate / opt_.max_sender_rate)));
    // --sender-path: the same --senders connections send every step
    senders = std::min(opt_.sender_path.empty() ? senders : opt_.senders, m);
    const double per_sender = rate / senders;
    auto sp = p;
    sp["rate"] = rate;
    sp["senders"] = senders;
    sp["rate_per_sender"] = round_to(per_sender, 3);
    sp["duration_s"] = seconds > 0 ? seconds : opt_.duration_s;
    sp["drain_s"] = opt_.drain_s;
    out_.progress("fanout step " + std::to_string(number) + ": " + num(rate) + " msg/s from " +
                  std::to_string(senders) + " senders to " + std::to_string(m) + " members");
    return std::pair{phases_.load_step(number, per_sender, senders, sp, seconds), std::pair{per_sender, senders}};
  };
  for (std::size_t i = 0; i < rates.size(); ++i) {
    const double rate = rates[i];
    if (!opt_.sender_path.empty() && rate / std::min(opt_.senders, m) > opt_.max_sender_rate * 1.000001) {
      stop = "sender_rate_limit";  // the fixed senders would go over --max-sender-rate
      break;
    }
    const double seconds = i < opt_.step_durations.size() ? opt_.step_durations[i] : 0;
    auto [o, plan] = run_step(static_cast<std::uint32_t>(i + 1), rate, seconds);
    const auto [per_sender, senders] = plan;
    if (!o.ok) {
      stop = o.why_not.empty() ? "worker_lost" : o.why_not;
      broken = o.why_not.empty();
      break;
    }
    out_.emit(o.line);
    steps.push_back(o.line);
    step_rates.push_back(rate);
    if (!o.sustainable) {
      stop = o.why_not;
      if (opt_.all_steps) continue;  // overload runs: the steps after it show the recovery
      break;
    }
    if (o.deliveries_per_s > best) {
      best = o.deliveries_per_s;
      best_rate = rate;
    }
    if (per_sender > opt_.max_sender_rate * 1.000001 && senders == m) {
      stop = "sender_rate_limit";  // every member already sends at the cap
      break;
    }
  }
  // Latency at half the highest sustainable rate: from a step that already
  // ran there, or (--half-max) from one more step.
  const double half = best_rate / 2;
  std::size_t half_at = steps.size();
  for (std::size_t k = 0; k < steps.size() && best_rate > 0; ++k)
    if (std::fabs(step_rates[k] - half) <= half * 1e-6) half_at = k;
  if (half_at == steps.size() && opt_.half_max_step && best_rate > 0 && !broken && stop != "deadline") {
    auto [o, plan] = run_step(static_cast<std::uint32_t>(steps.size() + 1), half);
    if (o.ok) {
      out_.emit(o.line);
      steps.push_back(o.line);
      step_rates.push_back(half);
      half_at = steps.size() - 1;
    } else if (o.why_not.empty()) {
      broken = true;
      stop = "worker_lost";
    }
  }
  out_.step_table(steps);
  nlohmann::ordered_json sm;
  sm["max_sustainable_deliveries_per_s"] = round_to(best, 1);
  sm["at_rate"] = best_rate;
  // The highest step passed, but no step failed: the real maximum may be higher.
  sm["max_is_lower_bound"] = stop == "rates_exhausted" || stop == "sender_rate_limit";
  sm["steps"] = steps.size();
  sm["stopped_because"] = stop;
  if (half_at < steps.size()) {
    const auto& hm = steps[half_at]["metrics"];
    sm["half_max"] = {{"rate", step_rates[half_at]},
                      {"step", half_at + 1},
                      {"members_open", hm["members_open"]},
                      {"delivery_ratio", hm["delivery_ratio"]},
                      {"latency_p50_ms", hm["latency_p50_ms"]},
                      {"latency_p99_ms", hm["latency_p99_ms"]}};
  }
  sm["criteria"] = {{"min_delivery", opt_.min_delivery}, {"max_p99_ms", opt_.max_p99_ms}};
  out_.emit(result("summary", p, sm));
  if (!broken) fleet_.close();
  return broken || stop == "deadline" ? 1 : 0;
}

int coordinator::run_rooms() {
  const std::uint64_t n = opt_.clients;
  if (!fleet_.plan(n, 0)) return 2;
  if (!fleet_.spawn(n, opt_.room_size, 0)) return 1;
  nlohmann::ordered_json cm;
  std::uint64_t opened = 0;
  auto p = base_params();
  p["clients"] = n;
  p["room_size"] = opt_.room_size;
  p["rooms"] = (n + opt_.room_size - 1) / opt_.room_size;
  p["server_pids"] = opt_.server_pids;
  if (!phases_.connect(n, opt_.room_size, cm, opened)) {
    abort_line("connect phase failed");
    return 1;
  }
  out_.emit(result("connect", p, cm));
  auto sp = p;
  sp["rate_per_client"] = opt_.rate_per_client;
  sp["aggregate_rate"] = opt_.rate_per_client * static_cast<double>(n);
  sp["duration_s"] = opt_.duration_s;
  sp["drain_s"] = opt_.drain_s;
  out_.progress("rooms: every client sends " + num(opt_.rate_per_client) + " msg/s");
  auto o = phases_.load_step(1, opt_.rate_per_client, 0, sp);
  if (!o.ok) {
    abort_line("load step failed: " + (o.why_not.empty() ? std::string("worker lost") : o.why_not));
    return 1;
  }
  o.line["phase"] = "result";
  o.line.erase("step");
  out_.emit(o.line);
  fleet_.close();
  return 0;
}

int coordinator::run_churn() {
  const std::uint32_t slots = opt_.connect_concurrency;
  if (!fleet_.plan(0, slots)) return 2;
  if (!fleet_.spawn(0, 1, slots)) return 1;
  cmd_churn_body cmd;
  const double duration = opt_.duration_s > 0 ? opt_.duration_s : 1.0;
  cmd.rate = opt_.churn_rate / fleet_.count();
  cmd.start_ns = monotonic_ns() + phase_lead_ns;
  cmd.end_ns = cmd.start_ns + secs_to_ns(duration);
  cmd.drain_end_ns = cmd.end_ns + secs_to_ns(std::max(opt_.drain_s, opt_.handshake_timeout_s));
  if (cmd.drain_end_ns + 2'000'000'000ull > run_deadline_ns_) {
    abort_line("--deadline too short for --duration + max(--drain, --handshake-timeout)");
    return 2;
  }
  out_.progress("churn: " + num(opt_.churn_rate) + " cycles/s for " + num(duration) + " s");
  if (!fleet_.broadcast(msg_type::cmd_churn, encode_pod(cmd))) return 1;
  sleep_until_ns(cmd.start_ns);
  phase_runner::samples at;
  at.s0 = sample_servers(opt_.server_pids);
  at.mc0 = sample_machine();
  std::vector<std::string> bodies;
  if (!fleet_.gather(msg_type::rep_churn, bodies)) {
    abort_line("churn phase failed");
    return 1;
  }
  at.s1 = sample_servers(opt_.server_pids);
  at.mc1 = sample_machine();
  nlohmann::ordered_json m;
  if (!phases_.churn_metrics(bodies, duration, cmd.start_ns, at, m)) return 1;
  auto p = base_params();
  p["target_rate"] = opt_.churn_rate;
  p["duration_s"] = duration;
  p["rooms"] = opt_.churn_rooms;
  p["echo"] = opt_.churn_echo;
  p["concurrency_per_worker"] = slots;
  p["server_pids"] = opt_.server_pids;
  out_.emit(result("result", p, m));
  fleet_.close();
  return 0;
}

}  // namespace sb::bench
