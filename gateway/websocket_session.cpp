// websocket_session.cpp — see websocket_session.hpp.
#include "gateway/websocket_session.hpp"

#include <boost/asio/post.hpp>

#include "common/event.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace sb::gateway {

websocket_session::websocket_session(boost::asio::ip::tcp::socket socket, request req, std::string group,
                                     server_context& ctx, std::size_t thread)
    : ws_(std::move(socket)), req_(std::move(req)), group_(std::move(group)), ctx_(ctx), thread_(thread) {
  tokens_ = ctx_.cfg.rate_burst;
  refilled_ = std::chrono::steady_clock::now();
}

websocket_session::~websocket_session() {
  if (conn_) ctx_.hub_ref.remove(conn_);
  if (join_sent_) ctx_.link.group_discard(group_, channel_);
  common::log("ws")->debug("connection closed channel={}", channel_);
}

void websocket_session::run() {
  conn_ = ctx_.hub_ref.add(thread_, shared_from_this());
  channel_ = common::make_channel(ctx_.gateway_id, hub::conn_string(conn_));
  join_sent_ = true;
  auto self = shared_from_this();
  auto ex = ws_.get_executor();
  ctx_.link.group_add(group_, channel_, [self, ex](bool ok, const std::string& why) {
    // Runs on the link thread: hop back to the session's own thread.
    boost::asio::post(ex, [self, ok, why] { self->on_joined(ok, why); });
  });
}

void websocket_session::on_joined(bool ok, const std::string& why) {
  if (!ok) {
    ctx_.stats.refused_unavailable.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("handshake refused status=503 group={} reason=\"{}\"", group_, why);
    refuse(http::status::service_unavailable, "channel layer unavailable: " + why + "\n");
    return;
  }
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "switchboard"); }));
  ws_.read_message_max(ctx_.cfg.max_message_size);
  ws_.auto_fragment(false);
  ws_.text(true);
  beast::get_lowest_layer(ws_).expires_never();
  ws_.async_accept(req_, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
}

void websocket_session::refuse(http::status status, std::string body) {
  refusal_ = std::make_unique<http::response<http::string_body>>(status, req_.version());
  refusal_->set(http::field::server, "switchboard");
  refusal_->set(http::field::content_type, "text/plain; charset=utf-8");
  refusal_->keep_alive(false);
  refusal_->body() = std::move(body);
  refusal_->prepare_payload();
  auto self = shared_from_this();
  http::async_write(ws_.next_layer(), *refusal_, [self](beast::error_code, std::size_t) {
    beast::error_code ec;
    beast::get_lowest_layer(self->ws_).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
  });
}

void websocket_session::on_accept(beast::error_code ec) {
  if (ec) {
    common::log("ws")->debug("handshake failed channel={} error=\"{}\"", channel_, ec.message());
    return;
  }
  accepted_ = true;
  ctx_.stats.handshakes.fetch_add(1, std::memory_order_relaxed);
  common::log("ws")->debug("connection open channel={} group={}", channel_, group_);
  if (!queue_.empty()) do_write();
  do_read();
}

void websocket_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, std::size_t) {
  auto log = common::log("ws");
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      ctx_.stats.closed_too_big.fetch_add(1, std::memory_order_relaxed);
      log->warn("connection closed channel={} code=1009 reason=\"message over {} bytes\"", channel_,
                ctx_.cfg.max_message_size);
    } else if (ec != websocket::error::closed && ec != boost::asio::error::operation_aborted &&
               ec != boost::asio::error::eof) {
      log->debug("read ended channel={} error=\"{}\"", channel_, ec.message());
    }
    return;  // the last handler releases the session
  }
  ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
  if (!ws_.got_text()) {
    ctx_.stats.closed_binary.fetch_add(1, std::memory_order_relaxed);
    log->warn("connection closed channel={} code=1003 reason=\"binary frame\"", channel_);
    buffer_.consume(buffer_.size());
    close(close_reason::unsupported_data);
    do_read();  // keep reading until the close handshake finishes
    return;
  }
  if (!closing_) {
    if (!take_token()) {
      ctx_.stats.closed_rate_limited.fetch_add(1, std::memory_order_relaxed);
      log->warn("connection closed channel={} code=1008 reason=\"rate limit {}/s burst {}\"", channel_,
                ctx_.cfg.rate_limit, ctx_.cfg.rate_burst);
      close(close_reason::rate_limited);
    } else {
      const auto data = buffer_.data();
      on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
  }
  buffer_.consume(buffer_.size());
  do_read();
}

bool websocket_session::take_token() {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(ctx_.cfg.rate_burst, tokens_ + elapsed * ctx_.cfg.rate_limit);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void websocket_session::on_text(std::string_view text) {
  auto parsed = common::chat_event_from_browser(text);
  if (!parsed.ok) {
    ctx_.stats.bad_frames.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("bad frame channel={} code={} detail=\"{}\"", channel_, parsed.error.code,
                            parsed.error.detail);
    send(std::make_shared<const std::string>(common::error_frame(parsed.error)));
    return;
  }
  ctx_.link.group_send(group_, std::move(parsed.event));
}

void websocket_session::send(std::shared_ptr<const std::string> frame) {
  if (closing_) return;
  if (queue_.size() + 1 > ctx_.cfg.send_queue_messages ||
      queued_bytes_ + frame->size() > ctx_.cfg.send_queue_bytes) {
    ctx_.stats.closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
    common::log("ws")->warn("connection closed channel={} code=1008 reason=\"slow consumer\" queued_messages={} "
                            "queued_bytes={}",
                            channel_, queue_.size(), queued_bytes_);
    close(close_reason::slow_consumer);
    return;
  }
  queued_bytes_ += frame->size();
  queue_.push_back(std::move(frame));
  if (accepted_ && !writing_) do_write();
}

void websocket_session::do_write() {
  writing_ = true;
  ws_.async_write(boost::asio::buffer(*queue_.front()),
                  beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
}

void websocket_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec) {
    queue_.clear();
    queued_bytes_ = 0;
    return;
  }
  ctx_.stats.frames_out.fetch_add(1, std::memory_order_relaxed);
  queued_bytes_ -= queue_.front()->size();
  queue_.pop_front();
  if (!queue_.empty() && !closing_) do_write();
}

void websocket_session::close(close_reason why) {
  if (closing_) return;
  closing_ = true;
  if (!accepted_) return;
  if (why == close_reason::slow_consumer) {
    // Drop the backlog (all but a write in flight), so the close frame is
    // next on the wire. The peer is not reading, so the close may never
    // get through: a timer cuts the TCP connection if it does not.
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queued_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
    close_timer_ = std::make_unique<boost::asio::steady_timer>(ws_.get_executor());
    close_timer_->expires_after(std::chrono::seconds(5));
    close_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(self->ws_).close();
    });
  }
  const auto info = describe(why);
  ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(info.code),
                                          beast::string_view(info.text.data(), info.text.size())),
                  [self = shared_from_this()](beast::error_code) {
                    if (self->close_timer_) self->close_timer_->cancel();
                  });
}

}  // namespace sb::gateway
