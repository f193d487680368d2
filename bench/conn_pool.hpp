// conn_pool.hpp — a worker's raw WebSocket client connections: the flat
// slot table, the epoll set they live on, and everything from the TCP
// connect (started by its dialer) to close(): upgrade, frames in and out,
// buffering, failures, time-outs.
//
// Why this shape: a connection is a slot in a flat table (fd, a few flags,
// its room, and input/output strings that stay empty unless a frame or a
// write is split), so 20,000 sockets cost a couple of megabytes. Events
// carry slot index + generation, so an event for a closed-and-reused slot
// is ignored. Slots [0, nstatic) are the worker's static members; the rest
// are churn slots, handed out and given back through a free list. The pool
// decides nothing about the run: what a handshake, a chat message, a
// failure or a finished churn cycle means is up to its worker, which it
// calls directly (plain member calls, no virtual dispatch on the hot path).
// Threading: none; it belongs to its worker's single thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/dialer.hpp"
#include "bench/ipc.hpp"

namespace sb::bench {

struct worker_plan;
class worker;

class conn_pool {
 public:
  enum class cstate : std::uint8_t { free, tcp, upgrade, open, closing };
  // How a churn cycle's connection ended, when it did not fail before opening.
  enum class churn_end { completed, closed_early, echo_timeout, close_timeout };

  struct conn {
    int fd = -1;
    std::uint32_t gen = 0;
    cstate st = cstate::free;
    bool want_out = false;
    bool ephemeral = false;      // a churn cycle, not a static member
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

  // The epoll tag of the worker's control socket; never a slot index.
  static constexpr std::uint32_t control_tag = 0xFFFFFFFFu;

  conn_pool(const bench_options& opt, const worker_plan& plan, worker& owner);
  ~conn_pool();
  conn_pool(const conn_pool&) = delete;
  conn_pool& operator=(const conn_pool&) = delete;

  // Creates the epoll set and puts the control socket in it (tag control_tag).
  bool watch_control(int ctrl_fd);
  int epoll_fd() const { return ep_; }

  conn& operator[](std::uint32_t idx) { return conns_[idx]; }
  const conn& operator[](std::uint32_t idx) const { return conns_[idx]; }
  std::size_t size() const { return conns_.size(); }
  std::uint32_t nstatic() const { return nstatic_; }
  std::uint32_t index_of(const conn& c) const { return static_cast<std::uint32_t>(&c - conns_.data()); }
  // True when an event tagged (idx, gen) still belongs to a live connection.
  bool live(std::uint32_t idx, std::uint32_t gen) const {
    return idx < conns_.size() && conns_[idx].gen == gen && conns_[idx].st != cstate::free;
  }

  // Static members currently open.
  std::uint64_t open_static() const;
  // Churn slots: take one (false when all are busy) and how many are free.
  bool take_churn_slot(std::uint32_t& idx);
  std::size_t free_churn_slots() const { return free_slots_.size(); }
  // Pseudo-random number below n from the pool's generator (churn rooms).
  std::uint32_t random_below(std::uint32_t n);

  // Starts connecting slot idx; a failure is reported to the worker and the slot freed.
  bool open(std::uint32_t idx, std::uint32_t room, std::uint64_t gid);
  void on_event(std::uint32_t idx, std::uint32_t events);
  void scan_timeouts(std::uint64_t now);
  bool send_chat(conn& c, std::uint32_t step, std::uint32_t slot);
  // Sends our close (1000) and waits for the server's answer.
  void start_close(conn& c);
  void release(conn& c);
  void release_all();

  // Totals over the run, static members only.
  std::uint64_t closed_by_server() const { return closed_by_server_; }
  std::uint64_t protocol_errors() const { return protocol_errors_; }

 private:
  void on_connected(conn& c);
  void on_upgrade_data(conn& c);
  bool process_frames(conn& c, std::string& buf);
  bool on_frame(conn& c, std::uint8_t op_fin, std::string_view payload);
  bool send_frame(conn& c, std::uint8_t opcode, std::string_view payload);
  bool flush(conn& c);
  void set_out_interest(conn& c, bool want);
  void protocol_error(conn& c);
  void fail(conn& c, fail_kind why);
  void end_conn(conn& c, bool clean);  // a live connection is gone
  std::string room_path(std::uint32_t room, std::uint64_t gid) const;
  std::uint32_t next_mask();

  const bench_options& opt_;
  dialer dialer_;
  worker& owner_;
  int ep_ = -1;
  std::uint64_t rng_;
  std::vector<conn> conns_;  // [0, nstatic) static members, then churn slots
  std::uint32_t nstatic_ = 0;
  std::vector<std::uint32_t> free_slots_;
  std::vector<char> rbuf_;
  std::vector<char> wbuf_;
  std::uint64_t timeout_ns_;
  std::uint64_t closed_by_server_ = 0;
  std::uint64_t protocol_errors_ = 0;
};

}  // namespace sb::bench
