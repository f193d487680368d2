// coordinator.cpp — see coordinator.hpp.
#include "bench/coordinator.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/chat_payload.hpp"
#include "bench/server_probe.hpp"
#include "bench/worker.hpp"

namespace sb::bench {

namespace {

constexpr std::uint64_t fd_reserve = 64;        // fds a worker keeps for itself
constexpr std::uint64_t phase_lead_ns = 200'000'000;  // commands go out this long before a phase starts

std::uint64_t secs_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

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

void sleep_until_ns(std::uint64_t t) {
  const std::uint64_t now = monotonic_ns();
  if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
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

std::uint64_t ephemeral_ports() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  std::uint64_t lo = 32768, hi = 60999;
  f >> lo >> hi;
  return hi >= lo ? hi - lo + 1 : 28232;
}

}  // namespace

coordinator::coordinator(const bench_options& opt) : opt_(opt), out_(opt) {
  run_deadline_ns_ = monotonic_ns() + secs_to_ns(opt.deadline_s);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);  // raise the soft limit to the hard one; never beyond
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  const std::uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? 1'000'000 : rl.rlim_cur;
  per_worker_cap_ = limit > fd_reserve * 2 ? limit - fd_reserve : limit / 2;
}

coordinator::~coordinator() {
  for (auto& w : workers_) {
    if (w.fd >= 0) ::close(w.fd);
    if (w.pid > 0) {
      // Give a worker that was told to close a moment to exit, then make sure.
      for (int i = 0; i < 50; ++i) {
        if (waitpid(w.pid, nullptr, WNOHANG) == w.pid) {
          w.pid = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (w.pid > 0) {
        kill(w.pid, SIGKILL);
        waitpid(w.pid, nullptr, 0);
      }
    }
  }
}

std::uint64_t coordinator::deadline_left_ns() const {
  const std::uint64_t now = monotonic_ns();
  return run_deadline_ns_ > now ? run_deadline_ns_ - now : 0;
}

nlohmann::ordered_json coordinator::base_params() const {
  nlohmann::ordered_json p;
  std::vector<std::string> urls;
  for (const auto& u : opt_.urls) urls.push_back("ws://" + u.host_port);
  p["urls"] = urls;
  p["workers"] = nworkers_;
  if (opt_.busy_poll_us > 0) p["busy_poll_us"] = opt_.busy_poll_us;
  p["source_ips"] = opt_.source_ips.size();
  return p;
}

nlohmann::ordered_json coordinator::result(const char* phase, nlohmann::ordered_json params,
                                           nlohmann::ordered_json metrics) const {
  nlohmann::ordered_json j;
  j["scenario"] = opt_.scenario_name;
  j["phase"] = phase;
  j["params"] = std::move(params);
  j["metrics"] = std::move(metrics);
  return j;
}

void coordinator::abort_line(const std::string& why) {
  nlohmann::ordered_json m;
  m["error"] = why;
  out_.emit(result("aborted", base_params(), m));
}

// ---------------------------------------------------------------- workers

bool coordinator::plan_workers(std::uint64_t nstatic, std::uint32_t churn_slots) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::uint64_t usable = per_worker_cap_ * 95 / 100;
  unsigned k = opt_.workers;
  if (k == 0) {
    k = static_cast<unsigned>(std::max<std::uint64_t>((nstatic + usable - 1) / std::max<std::uint64_t>(usable, 1),
                                                       std::min(2u, hw)));
    if (nstatic > 0) k = static_cast<unsigned>(std::min<std::uint64_t>(k, nstatic));
  }
  if (k == 0 || k > 256) {
    out_.progress("worker count out of range (1-256)");
    return false;
  }
  if (nstatic + std::uint64_t{churn_slots} * k > opt_.max_connections) {
    out_.progress("the plan needs more than --max-connections " + std::to_string(opt_.max_connections) +
                  " open connections");
    return false;
  }
  const std::uint64_t per = (nstatic + k - 1) / k + churn_slots;
  if (per > per_worker_cap_) {
    out_.progress("each worker would hold " + std::to_string(per) + " sockets but may open at most " +
                  std::to_string(per_worker_cap_) + "; use --workers " +
                  std::to_string((nstatic + usable - 1) / usable + 1) + " or more");
    return false;
  }
  const std::uint64_t pairs = std::max<std::size_t>(1, opt_.source_ips.size()) * opt_.urls.size();
  const std::uint64_t per_pair = (nstatic + pairs - 1) / pairs;
  if (per_pair > ephemeral_ports() * 9 / 10)
    out_.progress("warning: ~" + std::to_string(per_pair) + " connections per (source address, gateway) but only " +
                  std::to_string(ephemeral_ports()) + " ephemeral ports; add --source-ips 127.0.0.1-127.0.0.N");
  nworkers_ = k;
  return true;
}

bool coordinator::spawn(std::uint64_t nstatic, std::uint32_t room_size, std::uint32_t churn_slots) {
  std::cout.flush();
  std::cerr.flush();
  for (unsigned i = 0; i < nworkers_; ++i) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
    worker_handle h;
    h.gid_lo = nstatic * i / nworkers_;
    h.gid_hi = nstatic * (i + 1) / nworkers_;
    const pid_t pid = fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      return false;
    }
    if (pid == 0) {
      ::close(sv[0]);
      for (auto& w : workers_) ::close(w.fd);
      worker_plan plan;
      plan.id = i;
      plan.gid_lo = h.gid_lo;
      plan.gid_hi = h.gid_hi;
      plan.room_size = std::max<std::uint32_t>(1, room_size);
      plan.churn_slots = churn_slots;
      plan.ctrl_fd = sv[1];
      plan.hard_deadline_ns = run_deadline_ns_;
      worker_main(opt_, plan);
    }
    ::close(sv[1]);
    h.pid = pid;
    h.fd = sv[0];
    workers_.push_back(h);
  }
  return true;
}

bool coordinator::broadcast(msg_type type, const std::string& body) {
  for (auto& w : workers_)
    if (!send_message(w.fd, type, body)) return false;
  return true;
}

bool coordinator::gather(msg_type want, std::vector<std::string>& bodies) {
  bodies.assign(workers_.size(), std::string{});
  std::vector<bool> have(workers_.size(), false);
  std::size_t left = workers_.size();
  while (left > 0) {
    const std::uint64_t remain = deadline_left_ns();
    if (remain == 0) {
      out_.progress("hard deadline reached while waiting for workers");
      return false;
    }
    std::vector<pollfd> pfds;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < workers_.size(); ++i)
      if (!have[i]) {
        pfds.push_back({workers_[i].fd, POLLIN, 0});
        which.push_back(i);
      }
    const int rc = poll(pfds.data(), pfds.size(), static_cast<int>(std::min<std::uint64_t>(remain / 1'000'000 + 1, 1000)));
    if (rc < 0 && errno != EINTR) return false;
    for (std::size_t k = 0; rc > 0 && k < pfds.size(); ++k) {
      if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const std::size_t i = which[k];
      msg_type type{};
      if (!recv_message(workers_[i].fd, type, bodies[i]) || type != want) {
        out_.progress("worker " + std::to_string(i) + " (pid " + std::to_string(workers_[i].pid) +
                      ") went away or sent garbage");
        return false;
      }
      have[i] = true;
      --left;
    }
  }
  return true;
}

void coordinator::close_workers() {
  if (!broadcast(msg_type::cmd_close, std::string{})) return;
  std::vector<std::string> bodies;
  gather(msg_type::rep_closed, bodies);
}

bool coordinator::connect_phase(std::uint64_t nstatic, std::uint32_t room_size, nlohmann::ordered_json& metrics,
                                std::uint64_t& opened) {
  out_.progress("connecting " + std::to_string(nstatic) + " clients with " + std::to_string(nworkers_) +
                " workers");
  cmd_connect_body cmd;
  cmd.start_ns = monotonic_ns();
  cmd.rate = opt_.connect_rate / nworkers_;
  if (!broadcast(msg_type::cmd_connect, encode_pod(cmd))) return false;
  std::vector<std::string> bodies;
  if (!gather(msg_type::rep_connect, bodies)) return false;
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

coordinator::step_outcome coordinator::load_step(std::uint32_t step, double rate, std::uint32_t senders_per_room,
                                                 std::uint32_t /*room_size*/, nlohmann::ordered_json params) {
  step_outcome o;
  const double duration = opt_.duration_s > 0 ? opt_.duration_s : 1.0;
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
  if (!broadcast(msg_type::cmd_load, encode_pod(cmd))) return o;
  sleep_until_ns(cmd.start_ns);
  const server_sample s0 = sample_servers(opt_.server_pids);
  const machine_sample mc0 = sample_machine();
  // The workers report after the drain; read the machine once more as the load ends.
  sleep_until_ns(cmd.end_ns);
  const machine_sample mc_end = sample_machine();
  std::vector<std::string> bodies;
  if (!gather(msg_type::rep_load, bodies)) return o;
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
  o.line = result("step", std::move(params), std::move(m));
  o.line["step"] = step;
  return o;
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
  if (!plan_workers(n, 0)) return 2;
  const server_sample before = sample_servers(opt_.server_pids);
  if (!spawn(n, opt_.room_size, 0)) return 1;
  nlohmann::ordered_json m;
  std::uint64_t opened = 0;
  if (!connect_phase(n, opt_.room_size, m, opened)) {
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
  if (!broadcast(msg_type::cmd_status, {}) || !gather(msg_type::rep_status, bodies)) {
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
  close_workers();
  return 0;
}

int coordinator::run_fanout() {
  const std::uint32_t m = opt_.members;
  if (!plan_workers(m, 0)) return 2;
  if (!spawn(m, m, 0)) return 1;
  nlohmann::ordered_json cm;
  std::uint64_t opened = 0;
  auto p = base_params();
  p["members"] = m;
  p["server_pids"] = opt_.server_pids;
  if (!connect_phase(m, m, cm, opened)) {
    abort_line("connect phase failed");
    return 1;
  }
  out_.emit(result("connect", p, cm));
  if (opened == 0) {
    abort_line("no connection opened");
    close_workers();
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
  auto run_step = [&](std::uint32_t number, double rate) {
    auto senders = static_cast<std::uint32_t>(std::max<double>(opt_.senders, std::ceil(rate / opt_.max_sender_rate)));
    senders = std::min(senders, m);
    const double per_sender = rate / senders;
    auto sp = p;
    sp["rate"] = rate;
    sp["senders"] = senders;
    sp["rate_per_sender"] = round_to(per_sender, 3);
    sp["duration_s"] = opt_.duration_s;
    sp["drain_s"] = opt_.drain_s;
    out_.progress("fanout step " + std::to_string(number) + ": " + num(rate) + " msg/s from " +
                  std::to_string(senders) + " senders to " + std::to_string(m) + " members");
    return std::pair{load_step(number, per_sender, senders, m, sp), std::pair{per_sender, senders}};
  };
  for (std::size_t i = 0; i < rates.size(); ++i) {
    const double rate = rates[i];
    auto [o, plan] = run_step(static_cast<std::uint32_t>(i + 1), rate);
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
  if (!broken) close_workers();
  return broken || stop == "deadline" ? 1 : 0;
}

int coordinator::run_rooms() {
  const std::uint64_t n = opt_.clients;
  if (!plan_workers(n, 0)) return 2;
  if (!spawn(n, opt_.room_size, 0)) return 1;
  nlohmann::ordered_json cm;
  std::uint64_t opened = 0;
  auto p = base_params();
  p["clients"] = n;
  p["room_size"] = opt_.room_size;
  p["rooms"] = (n + opt_.room_size - 1) / opt_.room_size;
  p["server_pids"] = opt_.server_pids;
  if (!connect_phase(n, opt_.room_size, cm, opened)) {
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
  auto o = load_step(1, opt_.rate_per_client, 0, opt_.room_size, sp);
  if (!o.ok) {
    abort_line("load step failed: " + (o.why_not.empty() ? std::string("worker lost") : o.why_not));
    return 1;
  }
  o.line["phase"] = "result";
  o.line.erase("step");
  out_.emit(o.line);
  close_workers();
  return 0;
}

int coordinator::run_churn() {
  const std::uint32_t slots = opt_.connect_concurrency;
  if (!plan_workers(0, slots)) return 2;
  if (!spawn(0, 1, slots)) return 1;
  cmd_churn_body cmd;
  const double duration = opt_.duration_s > 0 ? opt_.duration_s : 1.0;
  cmd.rate = opt_.churn_rate / nworkers_;
  cmd.start_ns = monotonic_ns() + phase_lead_ns;
  cmd.end_ns = cmd.start_ns + secs_to_ns(duration);
  cmd.drain_end_ns = cmd.end_ns + secs_to_ns(std::max(opt_.drain_s, opt_.handshake_timeout_s));
  if (cmd.drain_end_ns + 2'000'000'000ull > run_deadline_ns_) {
    abort_line("--deadline too short for --duration + max(--drain, --handshake-timeout)");
    return 2;
  }
  out_.progress("churn: " + num(opt_.churn_rate) + " cycles/s for " + num(duration) + " s");
  if (!broadcast(msg_type::cmd_churn, encode_pod(cmd))) return 1;
  sleep_until_ns(cmd.start_ns);
  const server_sample s0 = sample_servers(opt_.server_pids);
  const machine_sample mc0 = sample_machine();
  std::vector<std::string> bodies;
  if (!gather(msg_type::rep_churn, bodies)) {
    abort_line("churn phase failed");
    return 1;
  }
  const server_sample s1 = sample_servers(opt_.server_pids);
  const machine_sample mc1 = sample_machine();
  churn_counters c;
  histogram cycle, join;
  std::uint64_t cpu = 0;
  for (const auto& b : bodies) {
    churn_report r;
    if (!decode(b, r)) return 1;
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
  const double wall = static_cast<double>(monotonic_ns() - cmd.start_ns) / 1e9;
  nlohmann::ordered_json m;
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
    m["server_pids_ok"] = s0.ok && s1.ok;
    m["server_cpu_us_per_cycle"] =
        c.completed ? round_to(static_cast<double>(s1.cpu_us - s0.cpu_us) / c.completed, 2) : 0.0;
    m["server_cpu_cores"] = round_to(static_cast<double>(s1.cpu_us - s0.cpu_us) / 1e6 / wall, 3);
    m["server_rss_kb"] = s1.rss_kb;
  }
  m["bench_cpu_cores"] = round_to(static_cast<double>(cpu) / 1e6 / wall, 3);
  add_machine_cpu(m, mc0, mc1, wall, c.completed, "machine_cpu_us_per_cycle");
  auto p = base_params();
  p["target_rate"] = opt_.churn_rate;
  p["duration_s"] = duration;
  p["rooms"] = opt_.churn_rooms;
  p["echo"] = opt_.churn_echo;
  p["concurrency_per_worker"] = slots;
  p["server_pids"] = opt_.server_pids;
  out_.emit(result("result", p, m));
  close_workers();
  return 0;
}

}  // namespace sb::bench
