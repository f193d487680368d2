// worker.hpp — one load-generating process: a single-threaded epoll loop over
// thousands of raw WebSocket client connections.
//
// Why this shape: a process may hold at most 20,000 open files, so 100,000
// connections need several processes; fork() gives each its own plan (a
// contiguous range of connection ids) and its own control socket to the
// parent. Inside, one thread, one epoll set, level-triggered; a connection
// is a slot in a flat table (fd, a few flags, its room, and input/output
// strings that stay empty unless a frame or a write is split), so 20,000
// sockets cost a couple of megabytes. Events carry slot index + generation,
// so an event for a closed-and-reused slot is ignored. Every phase ends by
// a deadline given by the parent; the loop also exits at the run's hard
// deadline or when the parent's socket closes. Nothing here is shared
// between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/ipc.hpp"

namespace sb::bench {

struct worker_plan {
  unsigned id = 0;
  std::uint64_t gid_lo = 0, gid_hi = 0;  // this worker's static connections [lo, hi)
  std::uint32_t room_size = 1;
  std::uint32_t churn_slots = 0;  // concurrent churn cycles
  int ctrl_fd = -1;
  std::uint64_t hard_deadline_ns = 0;
};

class worker {
 public:
  worker(const bench_options& opt, worker_plan plan);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Runs until the parent says close (0), the parent vanishes (1) or the
  // hard deadline passes (3).
  int run();

 private:
  enum class cstate : std::uint8_t { free, tcp, upgrade, open, closing };
  enum class fail_kind { socket_error, addr_unavailable, refused, connect_error, http_503, http_other, bad_accept,
                         malformed, reset, timeout };
  enum class phase { idle, connecting, loading, churning };

  struct conn {
    int fd = -1;
    std::uint32_t gen = 0;
    cstate st = cstate::free;
    bool want_out = false;
    bool ephemeral = false;     // a churn cycle, not a static member
    bool awaiting_echo = false;  // churn: waiting for its own message
    bool close_sent = false;
    std::int32_t slot = -1;  // sender slot in the current step, -1 = not a sender
    std::uint32_t seq = 0;
    std::uint32_t room = 0;
    std::uint64_t gid = 0;
    std::uint64_t t0_ns = 0;  // when connect() was called
    std::string in, out;
    std::unique_ptr<std::string> frag;  // a fragmented message in progress (rare)
  };

  // commands
  bool on_control();
  void start_load(const cmd_load_body& cmd);
  void start_churn(const cmd_churn_body& cmd);
  status_report status() const;

  // loop
  void tick(std::uint64_t now);
  std::uint64_t next_wakeup(std::uint64_t now) const;
  void scan_timeouts(std::uint64_t now);
  void send_due(std::uint64_t now);
  void start_cycles(std::uint64_t now);
  void finish_load();
  void finish_churn();

  // connections
  bool open_conn(std::uint32_t idx, std::uint32_t room, std::uint64_t gid);
  void on_event(std::uint32_t idx, std::uint32_t events);
  void on_connected(conn& c);
  void on_upgrade_data(conn& c);
  void on_open(conn& c);
  bool process_frames(conn& c, std::string& buf);
  bool on_frame(conn& c, std::uint8_t opcode, std::string_view payload);
  void on_text(conn& c, std::string_view text);
  bool send_frame(conn& c, std::uint8_t opcode, std::string_view payload);
  bool send_chat(conn& c, std::uint32_t step, std::uint32_t slot);
  bool flush(conn& c);
  void set_out_interest(conn& c, bool want);
  void fail(conn& c, fail_kind why);
  void end_conn(conn& c, bool clean);  // a live connection is gone
  void release(conn& c);
  std::uint32_t index_of(const conn& c) const { return static_cast<std::uint32_t>(&c - conns_.data()); }
  failure_counts& failures_for(const conn& c) { return c.ephemeral ? churn_.c.failed : connect_.failed; }
  std::string room_path(std::uint32_t room) const;
  std::uint32_t next_mask();
  static std::uint64_t cpu_us();

  const bench_options& opt_;
  worker_plan plan_;
  int ep_ = -1;
  bool exit_ = false;
  int exit_code_ = 0;
  std::uint64_t rng_;
  std::vector<conn> conns_;  // [0, nstatic) static members, then churn slots
  std::uint32_t nstatic_ = 0;
  std::vector<char> rbuf_;
  std::vector<char> wbuf_;
  std::uint64_t timeout_ns_;
  std::uint64_t last_scan_ns_ = 0;
  phase phase_ = phase::idle;

  // connect phase
  connect_report connect_;
  std::uint64_t connect_start_ns_ = 0;
  double connect_rate_ = 0;
  std::uint32_t next_open_ = 0;
  std::uint32_t connect_inflight_ = 0;

  // totals over the run
  std::uint64_t closed_by_server_ = 0;
  std::uint64_t protocol_errors_ = 0;

  // load step
  cmd_load_body load_{};
  load_report report_;
  std::vector<std::uint32_t> senders_;
  std::uint32_t slots_per_room_ = 0;
  std::vector<std::uint32_t> fifo_;  // [static idx * slots_per_room + slot] = last seq + 1
  std::uint64_t interval_ns_ = 0;
  std::uint64_t sends_done_ = 0;  // scheduled sends handled (sent or skipped)
  std::uint64_t next_send_ns_ = 0;
  std::uint64_t closed_at_step_start_ = 0, protocol_at_step_start_ = 0;
  std::uint32_t current_step_ = 0;

  // churn
  cmd_churn_body churn_cmd_{};
  churn_report churn_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t cycles_due_ = 0;
  std::uint64_t churn_seq_ = 0;
};

// The body of a forked worker process; never returns.
[[noreturn]] void worker_main(const bench_options& opt, worker_plan plan);

}  // namespace sb::bench
