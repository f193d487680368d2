// phase_runner.cpp — see phase_runner.hpp. Parent process, one thread.
#include "bench/phase_runner.hpp"

#include <algorithm>

#include "bench/ipc.hpp"
#include "bench/report_util.hpp"

namespace sb::bench {

namespace {

nlohmann::ordered_json failures_json(const failure_counts& f) {
  nlohmann::ordered_json j;
  j["socket_error"] = f.socket_error;
  j["addr_unavailable"] = f.addr_unavailable;
  j["refused"] = f.refused;
  j["connect_error"] = f.connect_error;
  j["http_503"] = f.http_503;
  j["http_other"] = f.http_other;
  j["bad_accept"] = f.bad_accept;
  j["malformed"] = f.malformed;
  j["reset"] = f.reset;
  j["timeout"] = f.timeout;
  return j;
}

// The whole machine's CPU over a step, the generator included: on a shared
// machine this is what a delivery really costs (see server_probe.hpp).
void add_machine_cpu(nlohmann::ordered_json& m, const machine_sample& a, const machine_sample& b, double wall,
                     std::uint64_t units, const char* per_unit_key) {
  if (!a.ok || !b.ok || wall <= 0) return;
  const double busy_us = machine_busy_s(a, b) * 1e6;
  m["machine_cpus"] = a.cpus;
  m["machine_busy_cores"] = round_to(busy_us / 1e6 / wall, 3);
  m[per_unit_key] = units ? round_to(busy_us / static_cast<double>(units), 4) : 0.0;
}

}  // namespace

bool phase_runner::connect(std::uint64_t nstatic, std::uint32_t room_size, nlohmann::ordered_json& metrics,
                           std::uint64_t& opened) {
  out_.progress("connecting " + std::to_string(nstatic) + " clients with " + std::to_string(fleet_.count()) +
                " workers");
  cmd_connect_body cmd;
  cmd.start_ns = monotonic_ns();
  cmd.rate = opt_.connect_rate / fleet_.count();
  if (!fleet_.broadcast(msg_type::cmd_connect, encode_pod(cmd))) return false;
  std::vector<std::string> bodies;
  if (!fleet_.gather(msg_type::rep_connect, bodies)) return false;
  connect_report total;
  std::uint64_t last_done = cmd.start_ns;
  worker_cpu_us_ = 0;
  for (const auto& b : bodies) {
    connect_report r;
    if (!decode(b, r)) return false;
    total.attempted += r.attempted;
    total.opened += r.opened;
    total.failed.add(r.failed);
    total.handshake_ns.merge(r.handshake_ns);
    last_done = std::max(last_done, r.done_ns);
    worker_cpu_us_ += r.cpu_us;
  }
  const double secs = static_cast<double>(last_done - cmd.start_ns) / 1e9;
  opened = total.opened;
  metrics["connections"] = nstatic;
  metrics["room_size"] = room_size;
  metrics["opened"] = total.opened;
  metrics["handshake_failures"] = total.failed.total();
  metrics["failures"] = failures_json(total.failed);
  metrics["connect_seconds"] = round_to(secs, 3);
  metrics["connect_rate_per_s"] = round_to(secs > 0 ? static_cast<double>(total.opened) / secs : 0.0, 1);
  metrics["handshake_p50_ms"] = round_to(ms(total.handshake_ns.quantile(0.5)), 3);
  metrics["handshake_p99_ms"] = round_to(ms(total.handshake_ns.quantile(0.99)), 3);
  metrics["handshake_max_ms"] = round_to(ms(total.handshake_ns.max()), 3);
  return true;
}

phase_runner::step_outcome phase_runner::load_step(std::uint32_t step, double rate, std::uint32_t senders_per_room,
                                                   nlohmann::ordered_json params, double seconds) {
  step_outcome o;
  const double duration = seconds > 0 ? seconds : opt_.duration_s > 0 ? opt_.duration_s : 1.0;
  cmd_load_body cmd;
  cmd.step = step;
  cmd.senders_per_room = senders_per_room;
  cmd.rate_per_sender = rate;  // caller passes per-sender rate
  cmd.start_ns = monotonic_ns() + phase_lead_ns;
  cmd.end_ns = cmd.start_ns + secs_to_ns(duration);
  cmd.drain_end_ns = cmd.end_ns + secs_to_ns(opt_.drain_s);
  if (cmd.drain_end_ns + 5'000'000'000ull > run_deadline_ns_) {
    o.why_not = "deadline";
    out_.progress("not enough time left before --deadline for another step");
    return o;
  }
  if (!fleet_.broadcast(msg_type::cmd_load, encode_pod(cmd))) return o;
  sleep_until_ns(cmd.start_ns);
  const server_sample s0 = sample_servers(opt_.server_pids);
  const machine_sample mc0 = sample_machine();
  // The workers report after the drain; read the machine once more as the load ends.
  sleep_until_ns(cmd.end_ns);
  const machine_sample mc_end = sample_machine();
  std::vector<std::string> bodies;
  if (!fleet_.gather(msg_type::rep_load, bodies)) return o;
  const std::uint64_t t1 = monotonic_ns();
  const server_sample s1 = sample_servers(opt_.server_pids);
  const machine_sample mc1 = sample_machine();

  load_counters c;
  histogram lat;
  std::vector<std::uint64_t> open_room, sent_room;
  std::uint64_t room_base = UINT64_MAX, cpu_now = 0;
  std::vector<load_report> reps(bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    if (!decode(bodies[i], reps[i])) return o;
    room_base = std::min(room_base, reps[i].room_lo);
  }
  bool fifo_all = true;
  for (const auto& r : reps) {
    c.sent += r.c.sent;
    c.send_skipped += r.c.send_skipped;
    c.received += r.c.received;
    c.stale += r.c.stale;
    c.foreign += r.c.foreign;
    c.error_frames += r.c.error_frames;
    c.fifo_violations += r.c.fifo_violations;
    c.closed_by_server += r.c.closed_by_server;
    c.protocol_errors += r.c.protocol_errors;
    c.open_at_start += r.c.open_at_start;
    c.open_at_end += r.c.open_at_end;
    fifo_all = fifo_all && r.c.fifo_checked;
    cpu_now += r.c.cpu_us;
    lat.merge(r.latency_ns);
    const std::size_t need = static_cast<std::size_t>(r.room_lo - room_base) + r.open_per_room.size();
    if (open_room.size() < need) {
      open_room.resize(need, 0);
      sent_room.resize(need, 0);
    }
    for (std::size_t k = 0; k < r.open_per_room.size(); ++k) {
      open_room[r.room_lo - room_base + k] += r.open_per_room[k];
      sent_room[r.room_lo - room_base + k] += r.sent_per_room[k];
    }
  }
  // Every message goes to every member of its room, the sender included.
  std::uint64_t expected = 0;
  for (std::size_t k = 0; k < open_room.size(); ++k) expected += open_room[k] * sent_room[k];
  const double ratio = expected ? static_cast<double>(c.received) / static_cast<double>(expected) : 0.0;
  const double wall = static_cast<double>(t1 - cmd.start_ns) / 1e9;
  const double p99_ms = ms(lat.quantile(0.99));

  nlohmann::ordered_json m;
  m["members_open"] = c.open_at_start;
  m["open_at_end"] = c.open_at_end;
  m["sent"] = c.sent;
  m["send_rate_per_s"] = round_to(static_cast<double>(c.sent) / duration, 1);
  m["send_skipped"] = c.send_skipped;
  m["expected_deliveries"] = expected;
  m["delivered"] = c.received;
  m["delivery_ratio"] = round_to(ratio, 5);
  m["deliveries_per_s"] = round_to(static_cast<double>(c.received) / duration, 1);
  m["latency_p50_ms"] = round_to(ms(lat.quantile(0.5)), 3);
  m["latency_p90_ms"] = round_to(ms(lat.quantile(0.9)), 3);
  m["latency_p99_ms"] = round_to(p99_ms, 3);
  m["latency_max_ms"] = round_to(ms(lat.max()), 3);
  m["latency_mean_ms"] = round_to(lat.mean() / 1e6, 3);
  m["late_from_earlier_steps"] = c.stale;
  m["fifo_checked"] = fifo_all;
  m["fifo_violations"] = c.fifo_violations;
  m["error_frames"] = c.error_frames;
  m["foreign_frames"] = c.foreign;
  m["closed_by_server"] = c.closed_by_server;
  m["protocol_errors"] = c.protocol_errors;
  if (!opt_.server_pids.empty()) {
    const std::uint64_t dcpu = s1.cpu_us - s0.cpu_us;
    m["server_pids_ok"] = s0.ok && s1.ok;
    m["server_cpu_us_per_delivery"] = c.received ? round_to(static_cast<double>(dcpu) / c.received, 4) : 0.0;
    m["server_cpu_cores"] = round_to(static_cast<double>(dcpu) / 1e6 / wall, 3);
    m["server_rss_kb"] = s1.rss_kb;
  }
  m["bench_cpu_cores"] = round_to(static_cast<double>(cpu_now - worker_cpu_us_) / 1e6 / wall, 3);
  worker_cpu_us_ = cpu_now;
  add_machine_cpu(m, mc0, mc1, wall, c.received, "machine_cpu_us_per_delivery");
  if (mc_end.ok && mc0.ok && mc_end.at_ns > mc0.at_ns)
    m["machine_busy_cores_under_load"] =
        round_to(machine_busy_s(mc0, mc_end) / (static_cast<double>(mc_end.at_ns - mc0.at_ns) / 1e9), 3);

  o.ok = true;
  o.deliveries_per_s = static_cast<double>(c.received) / duration;
  if (ratio < opt_.min_delivery) o.why_not = "delivery_ratio";
  else if (p99_ms > opt_.max_p99_ms) o.why_not = "p99";
  else if (c.send_skipped > (c.sent + c.send_skipped) / 10) o.why_not = "bench_could_not_send";
  o.sustainable = o.why_not.empty();
  m["sustainable"] = o.sustainable;
  if (!o.sustainable) m["not_sustainable_because"] = o.why_not;
  o.line = result_line(opt_, "step", std::move(params), std::move(m));
  o.line["step"] = step;
  return o;
}

bool phase_runner::churn_metrics(const std::vector<std::string>& bodies, double duration, std::uint64_t start_ns,
                                 const samples& at, nlohmann::ordered_json& m) const {
  churn_counters c;
  histogram cycle, join;
  std::uint64_t cpu = 0;
  for (const auto& b : bodies) {
    churn_report r;
    if (!decode(b, r)) return false;
    c.attempted += r.c.attempted;
    c.completed += r.c.completed;
    c.skipped_busy += r.c.skipped_busy;
    c.failed.add(r.c.failed);
    c.echo_timeout += r.c.echo_timeout;
    c.close_timeout += r.c.close_timeout;
    c.closed_early += r.c.closed_early;
    c.unfinished += r.c.unfinished;
    cpu += r.c.cpu_us;
    cycle.merge(r.cycle_ns);
    join.merge(r.handshake_ns);
  }
  const double wall = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  m["seconds"] = round_to(wall, 3);
  m["attempted"] = c.attempted;
  m["completed"] = c.completed;
  m["achieved_rate_per_s"] = round_to(static_cast<double>(c.completed) / duration, 1);
  m["failed"] = c.failed.total() + c.echo_timeout + c.close_timeout + c.closed_early + c.unfinished;
  m["failures"] = failures_json(c.failed);
  m["failures"]["echo_timeout"] = c.echo_timeout;
  m["failures"]["close_timeout"] = c.close_timeout;
  m["failures"]["closed_early"] = c.closed_early;
  m["failures"]["unfinished"] = c.unfinished;
  m["skipped_all_slots_busy"] = c.skipped_busy;
  m["join_p50_ms"] = round_to(ms(join.quantile(0.5)), 3);
  m["join_p99_ms"] = round_to(ms(join.quantile(0.99)), 3);
  m["cycle_p50_ms"] = round_to(ms(cycle.quantile(0.5)), 3);
  m["cycle_p99_ms"] = round_to(ms(cycle.quantile(0.99)), 3);
  m["cycle_max_ms"] = round_to(ms(cycle.max()), 3);
  if (!opt_.server_pids.empty()) {
    m["server_pids_ok"] = at.s0.ok && at.s1.ok;
    m["server_cpu_us_per_cycle"] =
        c.completed ? round_to(static_cast<double>(at.s1.cpu_us - at.s0.cpu_us) / c.completed, 2) : 0.0;
    m["server_cpu_cores"] = round_to(static_cast<double>(at.s1.cpu_us - at.s0.cpu_us) / 1e6 / wall, 3);
    m["server_rss_kb"] = at.s1.rss_kb;
  }
  m["bench_cpu_cores"] = round_to(static_cast<double>(cpu) / 1e6 / wall, 3);
  add_machine_cpu(m, at.mc0, at.mc1, wall, c.completed, "machine_cpu_us_per_cycle");
  return true;
}

}  // namespace sb::bench
