// websocket_session.cpp — see websocket_session.hpp.
#include "gateway/websocket_session.hpp"

#include <sys/ioctl.h>
#include <linux/sockios.h>

#include <atomic>
#include <climits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "common/log_limiter.hpp"
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

// One gather list per I/O thread: filled and written within one
// write_now() call, so no socket keeps one while idle.
constexpr std::size_t max_iov = 64;
std::vector<asio::const_buffer>& thread_iov() {
  thread_local std::vector<asio::const_buffer> iov = [] {
    std::vector<asio::const_buffer> v;
    v.reserve(max_iov);
    return v;
  }();
  return iov;
}

// A close handshake that has not finished by then is cut.
constexpr auto close_timeout = std::chrono::seconds(5);

// A warning an overloaded gateway may have to give thousands of times a
// second, logged at most once per interval (common/log_limiter.hpp) with
// what happened since the previous line as a count and a rate.
struct rate_line {
  common::log_limiter limit;
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> events_logged{0};  // `events` at the previous line
  std::atomic<std::int64_t> logged_ns{0};       // steady-clock time of the previous line (0: none yet)

  // Counts one event; true (with the events and seconds since the previous
  // line, or since the first event) when a line is due.
  bool count(std::uint64_t& n, double& seconds) {
    const auto total = events.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto now = common::log_limiter::clock::now();
    if (!common::log("ws")->should_log(spdlog::level::warn) || !limit.admit(now)) return false;
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::int64_t before = logged_ns.exchange(now_ns, std::memory_order_relaxed);
    n = total - events_logged.exchange(total, std::memory_order_relaxed);
    seconds = before == 0 ? 0.0 : static_cast<double>(now_ns - before) / 1e9;
    return true;
  }
};

double per_second(std::uint64_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; }

}  // namespace

websocket_session::websocket_session(std::unique_ptr<consumer> c, server_context& ctx, std::size_t thread)
    : socket_(ctx.hub_ref.context(thread)),
      consumer_(std::move(c)),
      ctx_(ctx),
      reader_(ctx.cfg.max_message_size),
      tokens_(ctx.cfg.rate_burst),
      refilled_(clock::now()),
      thread_(static_cast<std::uint8_t>(thread)) {}

websocket_session::~websocket_session() {
  if (conn_) ctx_.hub_ref.remove(conn_);
  leave_group();
  common::log("ws")->debug("connection closed channel={}", channel());
}

std::string websocket_session::channel() const { return common::make_channel(ctx_.gateway_id, hub::conn_string(conn_)); }

void websocket_session::run(channel_layer::join_callback joined) {
  conn_ = ctx_.hub_ref.add(thread_, this, consumer_->takes_events());
  join_sent_ = true;
  auto ex = socket_.get_executor();
  consumer_->on_connect(*this, [self = shared_from_this(), ex, joined = std::move(joined)](bool ok,
                                                                                            const std::string& why) {
    // Runs on the link's thread (I/O thread 0): hop back to the session's own thread.
    asio::post(ex, [self, joined, ok, why] {
      if (self->state_ == state::joining) joined(ok, why);
    });
  });
}

void websocket_session::accept(asio::ip::tcp::socket socket, std::string accept_key) {
  socket_ = std::move(socket);
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) return hard_close();
  on_accepted(std::move(accept_key));
}

void websocket_session::accept(std::unique_ptr<tls_socket> tls, std::string accept_key) {
  tls_ = std::move(tls);
  on_accepted(std::move(accept_key));
}

void websocket_session::on_accepted(std::string accept_key) {
  state_ = state::open;
  last_heard_ = clock::now();
  progress_ = last_heard_;
  if (!consumer_->group().empty()) {  // a Django route's consumer joins its groups itself
    ctx_.hub_ref.join_local(thread_, consumer_->group(), this);
    in_local_group_ = true;
  }
  // The 101 goes first; anything delivered while joining follows it.
  const std::string* protocol = consumer_->subprotocol();
  auto response = std::make_shared<const std::string>(ws::switching_protocols(accept_key, protocol ? *protocol : ""));
  out_bytes_ += response->size();
  out_.insert(out_.begin(), std::move(response));
  ctx_.stats.handshakes.fetch_add(1, std::memory_order_relaxed);
  common::log("ws")->debug("connection open channel={} group={}", channel(), consumer_->group());
  do_write();
  do_wait_read();
  if (close_after_accept_) return close(*close_after_accept_);
  if (const std::string* room = consumer_->history_group(); replay_.replay() && room && !room->empty()) {
    do_replay(*room);
  }
}

// A member now: live messages reach the socket and wait in the hold; the
// HISTORY_GET leaves after the join, so layerd's read of the stream covers
// everything up to where the live messages began (docs/protocol.md, History).
void websocket_session::do_replay(const std::string& room) {
  hold_ = std::make_unique<replay_hold>(ctx_.cfg.send_queue_bytes);
  ctx_.stats.history_replays.fetch_add(1, std::memory_order_relaxed);
  auto ex = socket_.get_executor();
  ctx_.link.history(room, replay_.count, replay_.since,
                    [self = shared_from_this(), ex](layer_link::history_answer answer) {
                      // On the link's thread (I/O thread 0): hop back to the session's own.
                      asio::post(ex, [self, answer = std::move(answer)] {
                        self->on_replay(answer.answered, answer.complete, answer.events);
                      });
                    });
}

void websocket_session::on_replay(bool answered, bool complete, const std::vector<std::string>& events) {
  if (!hold_) return;
  auto hold = std::move(hold_);
  if (state_ != state::open) return;
  if (!answered) {
    ctx_.stats.history_unanswered.fetch_add(1, std::memory_order_relaxed);
    static common::log_limiter limit;
    const std::string* room = consumer_->history_group();
    common::warn_limited(limit, "ws", "history replay not answered channel={} group={}", channel(),
                         room ? *room : std::string());
  }
  std::optional<common::stream_id> last;
  std::size_t count = 0;
  bool cut = false;  // the send queue's bounds ended the replay early
  constexpr std::size_t recovery_room = 128;  // kept free for the recovery frame
  for (const auto& event : events) {
    auto frame = replay_hold::replay_frame(event);
    if (!frame) continue;  // layerd checked it; a stream entry it could not show is skipped
    if (full_with(frame.value()->size() + recovery_room)) {
      cut = true;
      break;
    }
    if (auto id = replay_hold::frame_id(*frame.value())) last = id;
    enqueue(std::move(frame.value()));
    ++count;
  }
  ctx_.stats.history_replayed.fetch_add(count, std::memory_order_relaxed);
  // The recovery frame closes the replay; the live lines held meanwhile follow.
  if (!replay_.since.empty()) {
    const bool whole = answered && complete && !cut;
    if (!whole) ctx_.stats.history_incomplete.fetch_add(1, std::memory_order_relaxed);
    enqueue(replay_hold::recovery_frame(whole, count));
  }
  std::size_t dropped = 0;
  for (auto& f : hold->release(last, dropped)) enqueue(std::move(f));
  ctx_.stats.history_duplicates.fetch_add(dropped, std::memory_order_relaxed);
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
  if (write) {
    writing_ = true;
    kernel_queued_ = kernel_queued();  // what stalled() compares with
  }
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
  switch (ev.kind) {
    case ws::event::text:
      if (!take_token()) return close(close_reason::rate_limited);
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      return consumer_->on_receive(*this, ev.payload);
    case ws::event::binary:
      if (!consumer_->takes_binary()) return close(close_reason::unsupported_data);
      if (!take_token()) return close(close_reason::rate_limited);
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      return consumer_->on_binary(*this, ev.payload);
    case ws::event::ping:
      if (!take_token()) return close(close_reason::rate_limited);
      return queue_control(ws::make_frame(ws::op_pong, ev.payload));
    case ws::event::pong:
      return;
    case ws::event::close:
      peer_code_ = ev.code;
      return close(answer_to_peer(ev.code));
    case ws::event::error:
      return close(frame_error(ev.code, ev.why));
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

// Overload (docs/architecture.md, rule 4 and "Overload"): a full queue drops the frame
// rather than closing at once. Every member's queue fills together when
// the reading side as a whole falls behind (a burst, readers short of
// CPU); closing them all then would empty the room. A connection is a slow
// consumer only when its socket has taken no bytes at all for
// --slow-consumer-ms while frames wait: that one is closed. A reader that
// reads, however slowly, keeps its connection and gets what fits, in
// order; its memory stays within the queue's bounds.
void websocket_session::send(std::shared_ptr<const std::string> frame) {
  if (hold_ && state_ == state::open) {  // a replay is under way: after it
    if (!hold_->hold(std::move(frame))) drop();
    return;
  }
  enqueue(std::move(frame));
}

void websocket_session::enqueue(std::shared_ptr<const std::string> frame) {
  if (state_ == state::closing || state_ == state::closed) return;
  if (full_with(frame->size())) {
    const auto now = clock::now();
    note_full();
    if (stalled(now)) return close(close_reason::slow_consumer);
    return drop();
  }
  if (out_.empty() && inflight_.empty()) progress_ = clock::now();  // the stall clock starts with the first frame
  out_bytes_ += frame->size();
  out_.push_back(std::move(frame));
  mark_dirty();
}

bool websocket_session::full_with(std::size_t frame_bytes) const {
  return out_.size() + inflight_.size() + 1 > ctx_.cfg.send_queue_messages ||
         out_bytes_ + inflight_bytes_ + frame_bytes > ctx_.cfg.send_queue_bytes;
}

bool websocket_session::stalled(clock::time_point now) {
  if (out_.empty() && inflight_.empty()) return false;
  if (now - progress_ < std::chrono::milliseconds(ctx_.cfg.slow_consumer_ms)) return false;
  // The socket turns writable again only once a third of its buffer is
  // free, which a reader that reads slowly may take longer than the limit
  // to free: ask the kernel whether its send queue shrank since we looked
  // (at most once per limit per socket).
  const int queued = kernel_queued();
  if (queued >= 0 && queued < kernel_queued_) {
    kernel_queued_ = queued;
    progress_ = now;
    return false;
  }
  return true;
}

int websocket_session::kernel_queued() {
  int queued = 0;
  return ::ioctl(lowest_socket().native_handle(), SIOCOUTQ, &queued) == 0 ? queued : -1;
}

void websocket_session::note_full() {
  if (behind_) return;
  behind_ = true;
  ctx_.stats.connections_behind.fetch_add(1, std::memory_order_relaxed);
}

// Called as writes make progress: a queue back at half its bounds is no
// longer behind (the margin keeps a reader that is just keeping up from
// flapping in and out).
void websocket_session::note_drained() {
  if (!behind_) return;
  if ((out_.size() + inflight_.size()) * 2 > ctx_.cfg.send_queue_messages ||
      (out_bytes_ + inflight_bytes_) * 2 > ctx_.cfg.send_queue_bytes) {
    return;
  }
  no_longer_behind();
}

void websocket_session::no_longer_behind() {
  if (!behind_) return;
  behind_ = false;
  ctx_.stats.connections_behind.fetch_sub(1, std::memory_order_relaxed);
}

void websocket_session::drop() {
  ctx_.stats.deliveries_dropped.fetch_add(1, std::memory_order_relaxed);
  static rate_line line;
  std::uint64_t n = 0;
  double seconds = 0;
  if (!line.count(n, seconds)) return;
  const auto behind = ctx_.stats.connections_behind.load(std::memory_order_relaxed);
  if (seconds == 0) {  // the first of the run: there is no rate yet
    common::log("ws")->warn(
        "send queues full: started dropping deliveries; connections behind now={} (each is closed as a slow "
        "consumer if it takes no bytes for {} ms) channel={}",
        behind, ctx_.cfg.slow_consumer_ms, channel());
  } else {
    common::log("ws")->warn(
        "send queues full: dropped {} deliveries in the last {:.1f} s ({:.0f}/s); connections behind now={} "
        "(each is closed as a slow consumer if it takes no bytes for {} ms) latest channel={}",
        n, seconds, per_second(n, seconds), behind, ctx_.cfg.slow_consumer_ms, channel());
  }
}

void websocket_session::queue_control(std::string frame) {
  if (out_.empty() && inflight_.empty()) progress_ = clock::now();
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
  auto& iov = thread_iov();
  while (true) {
    if (inflight_.empty()) {
      if (out_.empty()) break;
      inflight_.swap(out_);
      inflight_bytes_ = out_bytes_;
      out_bytes_ = 0;
      first_offset_ = 0;
    }
    iov.clear();
    for (std::size_t i = 0; i < inflight_.size() && iov.size() < max_iov; ++i) {
      const std::string& f = *inflight_[i];
      const std::size_t skip = i == 0 ? first_offset_ : 0;
      iov.emplace_back(f.data() + skip, f.size() - skip);
    }
    boost::system::error_code ec;
    std::size_t n = socket_.write_some(iov, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      kernel_queued_ = kernel_queued();  // what stalled() compares with
      writing_ = true;
      socket_.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code e) {
        self->writing_ = false;
        if (e) return self->hard_close();
        if (self->state_ != state::closed) self->write_now();
      });
      return;
    }
    if (ec) return hard_close();
    if (n > 0) progress_ = clock::now();
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
    note_drained();
  }
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
        note_drained();
      }
      if (out_.empty()) break;
      inflight_.swap(out_);
      inflight_bytes_ = out_bytes_;
      out_bytes_ = 0;
      for (const auto& f : inflight_) tls_->stage(*f);
    }
    const auto r = tls_->write_staged();
    ctx_.stats.bytes_out.fetch_add(r.n, std::memory_order_relaxed);
    if (r.n > 0) {
      progress_ = clock::now();
      ctx_.stats.socket_writes.fetch_add(1, std::memory_order_relaxed);
    }
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

void websocket_session::close(close_cause why) {
  if (state_ == state::closing || state_ == state::closed) return;
  if (state_ == state::joining) {
    // Accepted, the 101 not yet written: the close follows it, so the
    // browser sees the consumer's close code (accept() then close()).
    if (consumer_->accepted() && why.code != 0) {
      if (!close_after_accept_) close_after_accept_ = why;
      return;
    }
    return hard_close();  // no socket yet: http_session's connection ends
  }
  ctx_.stats.closes[static_cast<std::size_t>(why.reason)].fetch_add(1, std::memory_order_relaxed);
  auto log = common::log("ws");
  const auto level = why.reason == close_reason::peer_closed || why.reason == close_reason::going_away
                         ? spdlog::level::debug
                         : why.reason == close_reason::ping_timeout ? spdlog::level::info : spdlog::level::warn;
  if (why.reason == close_reason::slow_consumer) {  // under overload: one line per interval, with the rate
    static rate_line line;
    std::uint64_t n = 0;
    double seconds = 0;
    if (!line.count(n, seconds)) {
    } else if (seconds == 0) {  // the first of the run: there is no rate yet
      log->warn("closed a connection as a slow consumer: took no bytes for {} ms; channel={}",
                ctx_.cfg.slow_consumer_ms, channel());
    } else {
      log->warn("closed {} connections as slow consumers in the last {:.1f} s ({:.1f}/s): took no bytes for {} ms; "
                "latest channel={}",
                n, seconds, per_second(n, seconds), ctx_.cfg.slow_consumer_ms, channel());
    }
  } else if (level == spdlog::level::warn) {  // the peer broke a rule: it can do so on every connection it opens
    static common::log_limiter limit;
    common::warn_limited(limit, "ws", "connection closed channel={} code={} reason=\"{}\"", channel(), why.code,
                         why.text);
  } else {
    log->log(level, "connection closed channel={} code={} reason=\"{}\"", channel(), why.code, why.text);
  }
  if (why.code == 0) return hard_close();  // nothing to say: cut
  // What the consumer is told: the browser's own code (1005: none), else ours.
  close_code_ = why.reason == close_reason::peer_closed ? peer_code_ : why.code;
  state_ = state::closing;
  no_longer_behind();
  close_deadline_ = clock::now() + close_timeout;
  // A closing connection takes no more messages: leave the group now, not
  // when the peer finally lets go of the socket.
  leave_group();
  if (why.reason == close_reason::slow_consumer) {  // the close frame goes next (after a partly written frame)
    out_.clear();
    out_bytes_ = 0;
    if (inflight_.size() > 1) {
      for (std::size_t i = 1; i < inflight_.size(); ++i) inflight_bytes_ -= inflight_[i]->size();
      inflight_.resize(1);
    }
  }
  shutdown_after_flush_ = true;
  queue_control(ws::make_close_frame(why.code, why.text));
}

void websocket_session::leave_group() {
  if (in_local_group_) {
    in_local_group_ = false;
    ctx_.hub_ref.leave_local(thread_, consumer_->group(), this);
  }
  if (!join_sent_) return;
  join_sent_ = false;
  consumer_->on_disconnect(*this);
}

void websocket_session::hard_close() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  no_longer_behind();
  leave_group();
  boost::system::error_code ignored;
  lowest_socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  lowest_socket().close(ignored);  // pending handlers end; the last one frees the session
}

void websocket_session::join_local(const std::string& group) { ctx_.hub_ref.join_events(thread_, group, this); }
void websocket_session::leave_local(const std::string& group) { ctx_.hub_ref.leave_events(thread_, group, this); }

consumer_socket::poster_fn websocket_session::hop(bool inline_here) {
  return [weak = weak_from_this(), ex = socket_.get_executor(), inline_here](std::function<void()> f) {
    auto run = [weak, f = std::move(f)] {
      if (auto self = weak.lock()) f();
    };
    if (inline_here) {
      asio::dispatch(ex, std::move(run));
    } else {
      asio::post(ex, std::move(run));
    }
  };
}

void websocket_session::sweep(clock::time_point now) {
  if (consumer_->takes_events()) consumer_->on_sweep(*this, now);
  if (state_ == state::closing) {
    if (now >= close_deadline_) hard_close();
    return;
  }
  if (state_ != state::open) return;
  // A socket that takes nothing is judged here too, when nothing more is
  // delivered to it (or only pongs are queued).
  if (stalled(now)) return close(close_reason::slow_consumer);
  const auto interval = std::chrono::milliseconds(ctx_.cfg.ping_interval_ms);
  const auto timeout = std::chrono::milliseconds(ctx_.cfg.ping_timeout_ms);
  if (ping_outstanding_) {
    if (now - ping_sent_ > timeout) close(close_reason::ping_timeout);
    return;
  }
  if (now - last_heard_ > interval) {
    ping_outstanding_ = true;
    ping_sent_ = now;
    queue_control(ws::make_frame(ws::op_ping, ""));
  }
}

}  // namespace sb::gateway
