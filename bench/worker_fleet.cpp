// worker_fleet.cpp — see worker_fleet.hpp. Parent process, one thread.
#include "bench/worker_fleet.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/chat_payload.hpp"
#include "bench/worker.hpp"

namespace sb::bench {

namespace {

constexpr std::uint64_t fd_reserve = 64;  // fds a worker keeps for itself

std::uint64_t ephemeral_ports() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  std::uint64_t lo = 32768, hi = 60999;
  f >> lo >> hi;
  return hi >= lo ? hi - lo + 1 : 28232;
}

}  // namespace

worker_fleet::worker_fleet(const bench_options& opt, result_sink& out, std::uint64_t run_deadline_ns)
    : opt_(opt), out_(out), run_deadline_ns_(run_deadline_ns) {
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

worker_fleet::~worker_fleet() {
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

std::uint64_t worker_fleet::deadline_left_ns() const {
  const std::uint64_t now = monotonic_ns();
  return run_deadline_ns_ > now ? run_deadline_ns_ - now : 0;
}

bool worker_fleet::plan(std::uint64_t nstatic, std::uint32_t churn_slots) {
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
  count_ = k;
  return true;
}

bool worker_fleet::spawn(std::uint64_t nstatic, std::uint32_t room_size, std::uint32_t churn_slots) {
  std::cout.flush();
  std::cerr.flush();
  for (unsigned i = 0; i < count_; ++i) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
    handle h;
    h.gid_lo = nstatic * i / count_;
    h.gid_hi = nstatic * (i + 1) / count_;
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
      plan.senders_first = !opt_.sender_path.empty();
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

bool worker_fleet::broadcast(msg_type type, const std::string& body) {
  for (auto& w : workers_)
    if (!send_message(w.fd, type, body)) return false;
  return true;
}

bool worker_fleet::gather(msg_type want, std::vector<std::string>& bodies) {
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

void worker_fleet::close() {
  if (!broadcast(msg_type::cmd_close, std::string{})) return;
  std::vector<std::string> bodies;
  gather(msg_type::rep_closed, bodies);
}

}  // namespace sb::bench
