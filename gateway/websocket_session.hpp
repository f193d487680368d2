// websocket_session.hpp — one browser WebSocket: the transport under a consumer.
//
// The session owns frames, queues, close and sweep; what the socket means
// is its consumer's (consumer.hpp, built per route by the router). It is
// created while the HTTP upgrade is still pending: run() registers it with
// the hub and lets the consumer join; http_session answers the handshake
// when the join is acknowledged, with accept() (the 101, then anything
// delivered meanwhile) or its own 503 (dropping the session).
//
// Frame layer (ws_frame.hpp) on a raw Asio socket, shaped by what costs:
//  - outbound frames are shared (one per gateway, not per socket) and each
//    socket's queue leaves in one gather write per reactor pass: send()
//    only queues and marks the session dirty; the hub flushes every dirty
//    session once per pass, writing straight away (non-blocking) and only
//    waiting for writability when the kernel's buffer is full;
//  - an idle socket owns no read buffer: it waits for readability, reads
//    into a per-thread buffer, and keeps only an incomplete frame's bytes;
//    the gather list of a write is per thread too;
//  - no timer per socket: the hub's per-thread sweep sends pings, closes
//    silent peers and ends close handshakes that stall;
//  - close(cause) is the only way a socket closes: it counts the reason
//    (close_reason.hpp) and sends its close frame.
//
// Over TLS (--tls-cert) the session keeps this shape on a tls_socket
// (OpenSSL straight on the non-blocking socket): it waits for readability,
// decrypts into the thread's buffer, and copies each pass's frames into one
// buffer that leaves as TLS records from the flush. The frames are still
// built once and shared; only the encryption is per socket.
//
// Threading: every member is touched only on the session's own io_context
// thread (the hub delivers by posting there). Handlers hold shared_from_this().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/close_reason.hpp"
#include "gateway/consumer.hpp"
#include "gateway/event_delivery.hpp"
#include "gateway/join_query.hpp"
#include "gateway/replay_hold.hpp"
#include "gateway/server_context.hpp"
#include "gateway/tls_socket.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {

class websocket_session final : public std::enable_shared_from_this<websocket_session>, public consumer_socket {
 public:
  using clock = std::chrono::steady_clock;

  websocket_session(std::unique_ptr<consumer> c, server_context& ctx, std::size_t thread);
  ~websocket_session();

  // Before run(): the handshake asked for a history replay (join_query.hpp),
  // which starts once the socket is open and a member (docs/protocol.md, History).
  void set_replay(const join_query& q) { replay_ = q; }

  // Registers with the hub and lets the consumer join; `joined(ok, why)`
  // runs on this session's thread, unless the session closed meanwhile.
  void run(channel_layer::join_callback joined);
  // After the join: takes the upgraded socket (plain, or TLS with its
  // handshake done) and sends the 101 ahead of anything queued.
  void accept(boost::asio::ip::tcp::socket socket, std::string accept_key);
  void accept(std::unique_ptr<tls_socket> tls, std::string accept_key);

  // Queues a complete frame. When the queue is full the frame is dropped
  // and counted; a socket that has taken no bytes for --slow-consumer-ms
  // while frames wait is closed as a slow consumer (docs/architecture.md,
  // "Overload").
  void send(std::shared_ptr<const std::string> frame);
  // The one way a socket closes (see close_reason.hpp).
  void close(close_cause why);

  // consumer_socket:
  std::string channel() const override;
  void reply(std::shared_ptr<const std::string> frame) override { send(std::move(frame)); }
  void close_with(close_cause why) override { close(why); }
  std::uint16_t close_code() const override { return close_code_ ? close_code_ : 1006; }
  void join_local(const std::string& group) override;
  void leave_local(const std::string& group) override;
  poster_fn poster() override { return hop(false); }
  poster_fn dispatcher() override { return hop(true); }
  std::uint64_t conn() const override { return conn_; }

  // For a consumer that takes events (hub.hpp): a message for this socket
  // from the layer, and a group event; on this session's thread.
  void on_layer_message(const std::shared_ptr<const std::string>& event) { consumer_->on_layer_message(*this, event); }
  void on_group_event(event_delivery& d) { consumer_->on_group_event(*this, d); }
  // The HTTP status of a refused handshake (the consumer's).
  unsigned refusal_status() const { return consumer_->refusal_status(); }

  // Called by the hub: once per reactor pass if dirty, and on every sweep.
  void flush();
  void sweep(clock::time_point now);

  // The hub's index of this session in its local group list.
  std::uint32_t local_slot() const { return local_slot_; }
  void set_local_slot(std::uint32_t slot) { local_slot_ = slot; }

 private:
  // poster() and dispatcher(): run f on this session's thread while the session lives; inline_here runs it at once when already there.
  poster_fn hop(bool inline_here);
  enum class state : std::uint8_t { joining, open, closing, closed };

  void on_accepted(std::string accept_key);
  // The history replay: asked for once open, answered on this thread.
  void do_replay(const std::string& room);
  void on_replay(bool answered, bool complete, const std::vector<std::string>& events);
  // Queues a frame past the replay's hold (the queue bounds still apply).
  void enqueue(std::shared_ptr<const std::string> frame);
  void do_wait_read();
  void on_readable(boost::system::error_code ec);
  void process(unsigned char* data, std::size_t n);
  void on_event(const ws::event& ev);
  void queue_control(std::string frame);
  void mark_dirty();
  void do_write();
  void write_now();
  void write_tls();
  void after_flush();
  void wait_then(tls_socket::status want, void (websocket_session::*next)());
  void resume_read() { on_readable({}); }
  boost::asio::ip::tcp::socket& lowest_socket() { return tls_ ? tls_->socket() : socket_; }
  void hard_close();
  void leave_group();
  bool take_token();
  bool full_with(std::size_t frame_bytes) const;
  bool stalled(clock::time_point now);
  int kernel_queued();  // bytes in the socket's kernel send queue (SIOCOUTQ), -1 if unknown
  void note_full();
  void note_drained();
  void no_longer_behind();
  void drop();

  boost::asio::ip::tcp::socket socket_;  // plain; unopened until accept(), and with TLS
  std::unique_ptr<tls_socket> tls_;
  std::unique_ptr<consumer> consumer_;
  server_context& ctx_;
  join_query replay_;
  std::unique_ptr<replay_hold> hold_;  // while a replay is under way: live frames wait here
  std::uint64_t conn_ = 0;
  std::vector<std::shared_ptr<const std::string>> out_;       // queued
  std::vector<std::shared_ptr<const std::string>> inflight_;  // being written
  std::size_t out_bytes_ = 0;
  std::size_t inflight_bytes_ = 0;
  std::size_t first_offset_ = 0;  // bytes of inflight_.front() already written
  std::string partial_;  // an incomplete frame's bytes (empty while idle)
  ws::reader reader_;
  double tokens_;
  clock::time_point refilled_;
  clock::time_point last_heard_;
  clock::time_point ping_sent_;
  clock::time_point close_deadline_;
  clock::time_point progress_;  // the last write that took bytes (or the first frame queued after idle)
  int kernel_queued_ = 0;       // kernel_queued() when the socket last refused bytes
  std::uint32_t local_slot_ = 0;
  std::uint16_t close_code_ = 0;  // the code this socket closed with (0: not yet, or cut)
  std::uint16_t peer_code_ = 1005;
  std::optional<close_cause> close_after_accept_;  // a close asked for between the consumer's accept and the 101  // the browser's close code (1005: its close frame had none)
  std::uint8_t thread_;
  state state_ = state::joining;
  bool writing_ = false;
  bool dirty_ = false;
  bool join_sent_ = false;
  bool in_local_group_ = false;
  bool ping_outstanding_ = false;
  bool shutdown_after_flush_ = false;
  bool behind_ = false;  // the queue refused a frame and has not drained to half its bounds since (a gauge)
};

}  // namespace sb::gateway
