// websocket_session.cpp — see websocket_session.hpp.
#include "gateway/websocket_session.hpp"

#include <array>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "common/event.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/ws_handshake.hpp"

namespace asio = boost::asio;

namespace sb::gateway {
namespace {

// One read buffer per I/O thread, shared by every socket on it.
constexpr std::size_t read_chunk = 64 * 1024;
unsigned char* thread_read_buffer() {
  thread_local std::unique_ptr<unsigned char[]> buf(new unsigned char[read_chunk]);
  return buf.get();
}

// A close handshake that has not finished by then is cut.
constexpr auto close_timeout = std::chrono::seconds(5);

}  // namespace

websocket_session::websocket_session(asio::ip::tcp::socket socket, std::string accept, std::string group,
                                     consumer_kind kind, server_context& ctx, std::size_t thread)
    : socket_(std::move(socket)),
      accept_(std::move(accept)),
      group_(std::move(group)),
      ctx_(ctx),
      reader_(ctx.cfg.max_message_size),
      tokens_(ctx.cfg.rate_burst),
      refilled_(clock::now()),
      thread_(static_cast<std::uint8_t>(thread)),
      kind_(kind) {}

websocket_session::websocket_session(std::unique_ptr<tls_socket> tls, std::string accept, std::string group,
                                     consumer_kind kind, server_context& ctx, std::size_t thread)
    : websocket_session(asio::ip::tcp::socket(tls->get_executor()), std::move(accept), std::move(group), kind, ctx,
                        thread) {
  tls_ = std::move(tls);
}

websocket_session::~websocket_session() {
  if (conn_) ctx_.hub_ref.remove(conn_);
  leave_group();
  common::log("ws")->debug("connection closed channel={}", channel());
}

std::string websocket_session::channel() const { return common::make_channel(ctx_.gateway_id, hub::conn_string(conn_)); }

void websocket_session::run() {
  conn_ = ctx_.hub_ref.add(thread_, this);
  join_sent_ = true;
  auto self = shared_from_this();
  auto ex = socket_.get_executor();
  ctx_.link.group_add(group_, channel(), [self, ex](bool ok, const std::string& why) {
    // Runs on the link's thread (I/O thread 0): hop back to the session's own thread.
    asio::post(ex, [self, ok, why] { self->on_joined(ok, why); });
  });
}

void websocket_session::on_joined(bool ok, const std::string& why) {
  if (state_ != state::joining) return;
  if (!ok) {
    ctx_.stats.refused_unavailable.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("handshake refused status=503 group={} reason=\"{}\"", group_, why);
    refuse(503, "channel layer unavailable: " + why + "\n");
    return;
  }
  if (!tls_) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) return hard_close();
  }
  state_ = state::open;
  last_heard_ = clock::now();
  ctx_.hub_ref.join_local(thread_, group_, this);
  in_local_group_ = true;
  // The 101 goes first; anything delivered while joining follows it.
  auto response = std::make_shared<const std::string>(ws::switching_protocols(accept_));
  std::string().swap(accept_);
  out_bytes_ += response->size();
  out_.insert(out_.begin(), std::move(response));
  ctx_.stats.handshakes.fetch_add(1, std::memory_order_relaxed);
  common::log("ws")->debug("connection open channel={} group={}", channel(), group_);
  do_write();
  do_wait_read();
}

void websocket_session::refuse(unsigned status, const std::string& body) {
  state_ = state::closing;
  std::string head = "HTTP/1.1 " + std::to_string(status) +
                     (status == 503 ? " Service Unavailable" : " Bad Request") +
                     "\r\nServer: switchboard\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body;
  auto bytes = std::make_shared<const std::string>(std::move(head));
  auto done = [self = shared_from_this(), bytes](boost::system::error_code, std::size_t) { self->hard_close(); };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(*bytes), std::move(done));
  } else {
    asio::async_write(socket_, asio::buffer(*bytes), std::move(done));
  }
}

void websocket_session::do_wait_read() {
  if (tls_ && tls_->has_pending()) {  // decrypted already: the socket will not say so
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable({}); });
    return;
  }
  lowest_socket().async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
}

void websocket_session::on_readable(boost::system::error_code ec) {
  if (ec || state_ == state::closed) return;
  unsigned char* buf = thread_read_buffer();
  for (int round = 0; round < 4; ++round) {
    std::size_t n = 0;
    if (tls_) {
      const auto r = tls_->read(buf, read_chunk);
      if (r.st == tls_socket::status::want_read) break;
      if (r.st == tls_socket::status::want_write) return wait_then(r.st, &websocket_session::resume_read);
      if (r.st != tls_socket::status::ok) return hard_close();  // closed, or a TLS alert
      n = r.n;
    } else {
      boost::system::error_code rec;
      n = socket_.read_some(asio::buffer(buf, read_chunk), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      if (rec) {  // EOF or reset: the peer is gone
        return hard_close();
      }
    }
    last_heard_ = clock::now();
    ping_outstanding_ = false;
    ctx_.stats.bytes_in.fetch_add(n, std::memory_order_relaxed);
    if (state_ == state::open) process(buf, n);
    if (state_ == state::closed) return;
    if (!tls_ && n < read_chunk) break;  // drained (a TLS read returns one record at most)
  }
  do_wait_read();
}

// TLS only: OpenSSL needs the socket readable or writable before `next`
// can make progress.
void websocket_session::wait_then(tls_socket::status want, void (websocket_session::*next)()) {
  const bool write = next == &websocket_session::write_tls;
  if (write) writing_ = true;
  lowest_socket().async_wait(
      want == tls_socket::status::want_read ? asio::ip::tcp::socket::wait_read : asio::ip::tcp::socket::wait_write,
      [self = shared_from_this(), next, write](boost::system::error_code ec) {
        if (write) self->writing_ = false;
        if (self->state_ == state::closed) return;
        if (ec) return self->hard_close();
        ((*self).*next)();
      });
}

void websocket_session::process(unsigned char* data, std::size_t n) {
  auto handler = [this](const ws::event& ev) { on_event(ev); };
  if (partial_.empty()) {
    const std::size_t used = reader_.consume(data, n, handler);
    if (used < n && !reader_.failed()) partial_.assign(reinterpret_cast<const char*>(data + used), n - used);
    return;
  }
  partial_.append(reinterpret_cast<const char*>(data), n);
  const std::size_t used = reader_.consume(reinterpret_cast<unsigned char*>(partial_.data()), partial_.size(), handler);
  if (reader_.failed() || used == partial_.size()) {
    std::string().swap(partial_);  // idle again: hold nothing
  } else {
    partial_.erase(0, used);
  }
}

void websocket_session::on_event(const ws::event& ev) {
  if (state_ != state::open) return;
  auto log = common::log("ws");
  switch (ev.kind) {
    case ws::event::text:
      if (!take_token()) {
        ctx_.stats.closed_rate_limited.fetch_add(1, std::memory_order_relaxed);
        log->warn("connection closed channel={} code=1008 reason=\"rate limit {}/s burst {}\"", channel(),
                  ctx_.cfg.rate_limit, ctx_.cfg.rate_burst);
        return close(close_reason::rate_limited);
      }
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      return on_text(ev.payload);
    case ws::event::binary:
      ctx_.stats.closed_binary.fetch_add(1, std::memory_order_relaxed);
      log->warn("connection closed channel={} code=1003 reason=\"binary frame\"", channel());
      return close(close_reason::unsupported_data);
    case ws::event::ping:
      if (!take_token()) {
        ctx_.stats.closed_rate_limited.fetch_add(1, std::memory_order_relaxed);
        log->warn("connection closed channel={} code=1008 reason=\"ping rate limit\"", channel());
        return close(close_reason::rate_limited);
      }
      return queue_control(ws::make_frame(ws::op_pong, ev.payload));
    case ws::event::pong:
      return;
    case ws::event::close: {
      // Answer with the same code (RFC 6455 5.5.1), then end the connection.
      const std::uint16_t code = ev.code == ws::close_no_status ? ws::close_normal : ev.code;
      log->debug("peer closed channel={} code={}", channel(), ev.code);
      return close_with(code, "", false);
    }
    case ws::event::error:
      if (ev.code == ws::close_too_big) {
        ctx_.stats.closed_too_big.fetch_add(1, std::memory_order_relaxed);
        log->warn("connection closed channel={} code=1009 reason=\"message over {} bytes\"", channel(),
                  ctx_.cfg.max_message_size);
      } else {
        ctx_.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        log->warn("connection closed channel={} code={} reason=\"{}\"", channel(), ev.code, ev.why);
      }
      return close_with(ev.code, ev.why, false);
  }
}

bool websocket_session::take_token() {
  const auto now = clock::now();
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(ctx_.cfg.rate_burst, tokens_ + elapsed * ctx_.cfg.rate_limit);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void websocket_session::on_text(std::string_view text) {
  if (kind_ == consumer_kind::notification) {
    ctx_.stats.bad_frames.fetch_add(1, std::memory_order_relaxed);
    send(ws::make_shared_text(common::error_frame({"not_accepted", "notification sockets only receive"})));
    return;
  }
  auto parsed = common::chat_event_from_browser(text);
  if (!parsed.ok) {
    ctx_.stats.bad_frames.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("bad frame channel={} code={} detail=\"{}\"", channel(), parsed.error.code,
                            parsed.error.detail);
    send(ws::make_shared_text(common::error_frame(parsed.error)));
    return;
  }
  ctx_.link.group_send(group_, std::move(parsed.event));
}

void websocket_session::send(std::shared_ptr<const std::string> frame) {
  if (state_ == state::closing || state_ == state::closed) return;
  if (out_.size() + inflight_.size() + 1 > ctx_.cfg.send_queue_messages ||
      out_bytes_ + inflight_bytes_ + frame->size() > ctx_.cfg.send_queue_bytes) {
    ctx_.stats.closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("connection closed channel={} code=1008 reason=\"slow consumer\" queued_messages={} "
                            "queued_bytes={}",
                            channel(), out_.size() + inflight_.size(), out_bytes_ + inflight_bytes_);
    close(close_reason::slow_consumer);
    return;
  }
  out_bytes_ += frame->size();
  out_.push_back(std::move(frame));
  mark_dirty();
}

void websocket_session::queue_control(std::string frame) {
  auto f = std::make_shared<const std::string>(std::move(frame));
  out_bytes_ += f->size();
  out_.push_back(std::move(f));
  mark_dirty();
}

void websocket_session::mark_dirty() {
  if (dirty_ || state_ == state::joining) return;
  dirty_ = true;
  ctx_.hub_ref.mark_dirty(thread_, shared_from_this());
}

void websocket_session::flush() {
  dirty_ = false;
  if (!writing_ && !out_.empty() && (state_ == state::open || state_ == state::closing)) do_write();
}

void websocket_session::do_write() {
  if (writing_ || (out_.empty() && inflight_.empty())) return;
  write_now();
}

// Writes queued frames straight from the flush with non-blocking gather
// writes (no completion handler to schedule when the kernel takes it all,
// which on a healthy socket is nearly always); only when the socket is
// full does it wait for writability.
void websocket_session::write_now() {
  if (tls_) return write_tls();
  constexpr std::size_t max_iov = 64;
  while (true) {
    if (inflight_.empty()) {
      if (out_.empty()) break;
      inflight_.swap(out_);
      inflight_bytes_ = out_bytes_;
      out_bytes_ = 0;
      first_offset_ = 0;
    }
    iov_.clear();
    for (std::size_t i = 0; i < inflight_.size() && iov_.size() < max_iov; ++i) {
      const std::string& f = *inflight_[i];
      const std::size_t skip = i == 0 ? first_offset_ : 0;
      iov_.emplace_back(f.data() + skip, f.size() - skip);
    }
    boost::system::error_code ec;
    std::size_t n = socket_.write_some(iov_, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      writing_ = true;
      socket_.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code e) {
        self->writing_ = false;
        if (e) return self->hard_close();
        if (self->state_ != state::closed) self->write_now();
      });
      return;
    }
    if (ec) return hard_close();
    ctx_.stats.socket_writes.fetch_add(1, std::memory_order_relaxed);
    ctx_.stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
    // Drop what was written; keep the offset into a partly written frame.
    std::size_t done = 0;
    while (done < inflight_.size()) {
      const std::size_t left = inflight_[done]->size() - (done == 0 ? first_offset_ : 0);
      if (n < left) break;
      n -= left;
      inflight_bytes_ -= inflight_[done]->size();
      first_offset_ = 0;
      ++done;
    }
    if (done < inflight_.size()) first_offset_ += n;
    ctx_.stats.frames_out.fetch_add(done, std::memory_order_relaxed);
    inflight_.erase(inflight_.begin(), inflight_.begin() + static_cast<std::ptrdiff_t>(done));
  }
  if (iov_.capacity() > max_iov) std::vector<asio::const_buffer>().swap(iov_);
  after_flush();
}

// TLS: the queued frames are staged in one buffer that OpenSSL writes as
// TLS records straight from the flush; when the socket is full the rest
// waits for writability.
void websocket_session::write_tls() {
  if (writing_) return;
  while (true) {
    if (tls_->staged_empty()) {
      if (!inflight_.empty()) {
        ctx_.stats.frames_out.fetch_add(inflight_.size(), std::memory_order_relaxed);
        inflight_.clear();
        inflight_bytes_ = 0;
      }
      if (out_.empty()) break;
      inflight_.swap(out_);
      inflight_bytes_ = out_bytes_;
      out_bytes_ = 0;
      for (const auto& f : inflight_) tls_->stage(*f);
    }
    const auto r = tls_->write_staged();
    ctx_.stats.bytes_out.fetch_add(r.n, std::memory_order_relaxed);
    if (r.n > 0) ctx_.stats.socket_writes.fetch_add(1, std::memory_order_relaxed);
    if (r.st == tls_socket::status::want_read || r.st == tls_socket::status::want_write) {
      return wait_then(r.st, &websocket_session::write_tls);
    }
    if (r.st != tls_socket::status::ok) return hard_close();
  }
  after_flush();
}

// Everything queued is written.
void websocket_session::after_flush() {
  // Idle: hand back the queues' memory.
  if (inflight_.capacity() > 16) std::vector<std::shared_ptr<const std::string>>().swap(inflight_);
  if (out_.capacity() > 16) std::vector<std::shared_ptr<const std::string>>().swap(out_);
  if (shutdown_after_flush_) {
    // Our close frame is out: stop sending, and wait (bounded by the sweep)
    // for the peer to finish its side.
    if (tls_) tls_->notify_close();
    boost::system::error_code ignored;
    lowest_socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
}

void websocket_session::close(close_reason why) {
  if (why == close_reason::going_away && state_ == state::open) {
    ctx_.stats.closed_going_away.fetch_add(1, std::memory_order_relaxed);
  }
  const auto info = describe(why);
  close_with(info.code, info.text, why == close_reason::slow_consumer);
}

void websocket_session::close_with(std::uint16_t code, std::string_view reason, bool drop_backlog) {
  if (state_ == state::closing || state_ == state::closed) return;
  if (state_ == state::joining) return hard_close();
  state_ = state::closing;
  close_deadline_ = clock::now() + close_timeout;
  // A closing connection takes no more messages: leave the group now, not
  // when the peer finally lets go of the socket.
  leave_group();
  if (drop_backlog) {  // a slow consumer: the close frame goes next (after a partly written frame)
    out_.clear();
    out_bytes_ = 0;
    if (inflight_.size() > 1) {
      for (std::size_t i = 1; i < inflight_.size(); ++i) inflight_bytes_ -= inflight_[i]->size();
      inflight_.resize(1);
    }
  }
  shutdown_after_flush_ = true;
  queue_control(ws::make_close_frame(code, reason));
}

void websocket_session::leave_group() {
  if (in_local_group_) {
    in_local_group_ = false;
    ctx_.hub_ref.leave_local(thread_, group_, this);
  }
  if (!join_sent_) return;
  join_sent_ = false;
  ctx_.link.group_discard(group_, channel());
}

void websocket_session::hard_close() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  leave_group();
  boost::system::error_code ignored;
  lowest_socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  lowest_socket().close(ignored);  // pending handlers end; the last one frees the session
}

void websocket_session::sweep(clock::time_point now) {
  if (state_ == state::closing) {
    if (now >= close_deadline_) hard_close();
    return;
  }
  if (state_ != state::open) return;
  const auto interval = std::chrono::milliseconds(ctx_.cfg.ping_interval_ms);
  const auto timeout = std::chrono::milliseconds(ctx_.cfg.ping_timeout_ms);
  if (ping_outstanding_) {
    if (now - ping_sent_ > timeout) {
      ctx_.stats.closed_ping_timeout.fetch_add(1, std::memory_order_relaxed);
      common::log("ws")->info("connection dropped channel={} reason=\"no pong within {} ms\"", channel(),
                              ctx_.cfg.ping_timeout_ms);
      hard_close();
    }
    return;
  }
  if (now - last_heard_ > interval) {
    ping_outstanding_ = true;
    ping_sent_ = now;
    queue_control(ws::make_frame(ws::op_ping, ""));
  }
}

}  // namespace sb::gateway
