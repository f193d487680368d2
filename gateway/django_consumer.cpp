// django_consumer.cpp — see django_consumer.hpp.
#include "gateway/django_consumer.hpp"

#include <algorithm>

#include "common/limits.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "common/worker_event.hpp"
#include "gateway/event_delivery.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/server_context.hpp"
#include "gateway/worker_door.hpp"
#include "gateway/worker_outbox.hpp"
#include "gateway/ws_frame.hpp"

namespace sb::gateway {

namespace {
using counters = gateway_stats::worker_counters;

const char* drop_name(int reason) {
  switch (reason) {
    case counters::unknown_socket: return "unknown_socket";
    case counters::bad_message: return "bad_message";
    case counters::out_of_order: return "out_of_order";
    case counters::send_failed: return "send_failed";
    case counters::before_accept: return "before_accept";
    case counters::wrong_worker: return "wrong_worker";
  }
  return "?";
}
}  // namespace

django_consumer::django_consumer(std::string name, std::string scope_msgpack, std::vector<std::string> offered,
                                 server_context& ctx, consumer::factory gate, std::string gate_room)
    : consumer(std::string(), ctx.link, ctx.stats),
      name_(std::move(name)),
      scope_(std::move(scope_msgpack)),
      offered_(std::move(offered)),
      ctx_(ctx),
      gate_(gate),
      gate_room_(std::move(gate_room)) {}

django_consumer::~django_consumer() {
  if (conn_ && ctx_.doors) ctx_.doors->close(conn_);
}

void django_consumer::count_drop(server_context& ctx, const std::string& channel, int reason, const char* what,
                                 const std::string& detail) {
  const auto n = ctx.stats.workers.dropped[reason].fetch_add(1, std::memory_order_relaxed) + 1;
  static common::log_limiter limit;
  common::warn_limited(limit, "django", "worker message dropped socket={} reason={} what=\"{}\" detail=\"{:.200}\" "
                       "dropped_total={}", channel, drop_name(reason), what, detail, n);
}

void django_consumer::drop(int reason, const char* what, const std::string& detail) {
  count_drop(ctx_, channel_, reason, what, detail);
}

void django_consumer::on_connect(consumer_socket& socket, channel_layer::join_callback accept) {
  channel_ = socket.channel();
  conn_ = socket.conn();
  state_ = state::connecting;
  accept_ = std::move(accept);
  deadline_ = clock::now() + std::chrono::milliseconds(ctx_.cfg.connect_timeout_ms);
  ctx_.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
  // The door opens first: the worker's answer finds it (both go to thread 0, in this order).
  if (ctx_.doors) {
    ctx_.doors->open({conn_, channel_, gate_ != nullptr, socket.dispatcher(), this, &socket});
  }
  // The connect may go through NAME's ring owner: nothing else about this
  // socket is in flight yet (docs/protocol.md, Part 3). On every Redis host:
  // channels_redis' receive() of NAME waits on one host per call, so a
  // connect on one host only may sit there while every worker waits on
  // another; the worker's claim drops the copies (Part 3, Several Redis hosts).
  ctx_.link.send(
      name_, common::worker_wire::connect(channel_, scope_), name_,
      [this, post = socket.poster()](const std::string& error) {
        if (error.empty()) return;
        post([this, error] { refuse(503, counters::unavailable, "the connect could not be written: " + error); });
      },
      proto::send_every_host);
}

void django_consumer::refuse(unsigned status, int outcome, const std::string& why) {
  if (state_ != state::connecting) return;
  state_ = state::refused;
  refusal_ = status;
  ctx_.stats.workers.connects[outcome].fetch_add(1, std::memory_order_relaxed);
  static common::log_limiter limit;
  common::log_limited(limit, "django", status == 403 ? spdlog::level::info : spdlog::level::warn,
                      "django connect refused socket={} route={} status={} reason=\"{}\"", channel_, name_, status, why);
  auto cb = std::move(accept_);
  accept_ = nullptr;
  if (cb) cb(false, why);
}

void django_consumer::end(consumer_socket& socket, close_cause why, const std::string& text) {
  if (state_ == state::connecting) {
    return refuse(503, why.reason == close_reason::worker_lost ? counters::unavailable : counters::refused, text);
  }
  if (state_ == state::open) socket.close_with(why);
}

void django_consumer::to_worker(consumer_socket& socket, std::string message, on_fail f) {
  ctx_.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
  auto failed = [this, &socket, f, post = socket.poster()](const std::string& error) {
    if (error.empty()) return;
    post([this, &socket, f, error] {
      drop(counters::send_failed, f == on_fail::close_socket ? "websocket.receive" : "switchboard.event", error);
      // A consumer that missed a browser message would go on wrongly:
      // the socket ends, and the browser may try again (1013).
      if (f == on_fail::close_socket && state_ == state::open) socket.close_with(close_reason::worker_unavailable);
    });
  };
  // A worker that batches gets it in W's next batch (worker_outbox.hpp).
  if (batches_ && ctx_.outbox) return ctx_.outbox->send(worker_, std::move(message), false, std::move(failed));
  ctx_.link.send(worker_, std::move(message), worker_, std::move(failed));
}

void django_consumer::on_receive(consumer_socket& socket, std::string_view text) {
  if (builtin_) return builtin_->on_receive(socket, text);
  if (state_ != state::open) return;
  to_worker(socket, common::worker_wire::receive_text(channel_, text), on_fail::close_socket);
}

void django_consumer::on_binary(consumer_socket& socket, std::string_view data) {
  if (state_ != state::open) return;
  to_worker(socket, common::worker_wire::receive_bytes(channel_, data), on_fail::close_socket);
}

void django_consumer::leave_all(consumer_socket& socket) {
  for (const auto& g : groups_) socket.leave_local(g);
  groups_.clear();
  // The groups the worker put the socket in are discarded by its door; a
  // gate's room is the built-in consumer's.
  if (builtin_) ctx_.link.group_discard(builtin_->group(), channel_);
  if (ctx_.doors) ctx_.doors->close(conn_);
}

void django_consumer::on_disconnect(consumer_socket& socket) {
  if (builtin_) {  // handed over: the worker was told at the accept
    leave_all(socket);
    state_ = state::closed;
    return;
  }
  const bool was_open = state_ == state::open;
  leave_all(socket);
  if (was_open) ctx_.stats.workers.sockets.fetch_sub(1, std::memory_order_relaxed);
  // The consumer there ends (its disconnect handler runs): it took the
  // socket, or at least spoke about it.
  if (!worker_.empty() && (was_open || state_ == state::connecting)) tell_disconnect(socket.close_code());
  if (state_ == state::connecting) refuse(503, counters::unavailable, "the socket went away");
  state_ = state::closed;
}

void django_consumer::tell_disconnect(int code) {
  ctx_.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
  auto message = common::worker_wire::disconnect(channel_, code);
  if (batches_ && ctx_.outbox) {
    ctx_.outbox->send(worker_, std::move(message), false, [](const std::string&) {});
  } else {
    ctx_.link.send(worker_, std::move(message), worker_, [](const std::string&) {});
  }
}

void django_consumer::on_layer_message(consumer_socket& socket, const std::shared_ptr<const std::string>& event) {
  // A send() to S (the door hands the worker's own messages on through from_door).
  if (state_ == state::closed || state_ == state::refused) return on_unknown_socket(ctx_, channel_, *event);
  auto decoded = common::worker_wire::decode(*event, ctx_.cfg.max_message_size);
  if (!decoded) return drop(counters::bad_message, "undecodable", decoded.error_text());
  if (decoded.value().what != common::worker_wire::message::kind::event) {
    return drop(counters::bad_message, "a worker message", "not through the socket's door");
  }
  event_delivery d(event);
  on_event(socket, d);
  finish_delivery(ctx_, d);
}

void django_consumer::from_door(consumer_socket& socket, common::worker_wire::message& m) {
  using k = common::worker_wire::message::kind;
  if (worker_.empty() && (state_ == state::connecting || state_ == state::open)) worker_ = m.worker;
  if (m.what == k::worker_alive) return;  // the door's note: W spoke for this socket
  // The socket's side of the door's group_add / group_discard.
  if (m.what == k::group_add || m.what == k::group_discard) {
    if (state_ != state::connecting && state_ != state::open) return;
    if (m.what == k::group_add) {
      if (groups_.insert(m.data).second) socket.join_local(m.data);
    } else if (groups_.erase(m.data)) {
      socket.leave_local(m.data);
    }
    return;
  }
  // Closing, or refused and about to go: the socket is no longer held.
  if (state_ == state::closed || state_ == state::refused) return on_unknown_socket(ctx_, channel_, &m);
  apply(socket, m);
}

void django_consumer::door_ended(consumer_socket& socket, const std::string& why) {
  end(socket, close_reason::out_of_order, why);
}

void django_consumer::apply(consumer_socket& socket, common::worker_wire::message& m) {
  using k = common::worker_wire::message::kind;
  if (builtin_) {
    // Handed over: the consumer there was told websocket.disconnect; what
    // its disconnect handler does (group_discard) concerns it alone.
    if (m.what == k::group_add || m.what == k::group_discard) return;
    return drop(counters::unknown_socket, "after the hand-over", "the socket is the built-in consumer's now");
  }
  switch (m.what) {
    case k::accept: {
      if (state_ != state::connecting) return drop(counters::bad_message, "websocket.accept", "the socket is already accepted");
      if (gate_) return hand_over(socket, m);
      if (!m.render) {
        drop(counters::bad_message, "websocket.accept", "bad render: " + m.render_problem);
        return refuse(403, counters::refused, "bad render: " + m.render_problem);
      }
      if (m.has_subprotocol && std::find(offered_.begin(), offered_.end(), m.data) == offered_.end()) {
        return refuse(403, counters::refused, "subprotocol \"" + m.data.substr(0, 100) + "\" was not offered");
      }
      subprotocol_ = m.data;
      has_subprotocol_ = m.has_subprotocol;
      batches_ = m.in_batch;
      render_ = std::move(m.render);
      state_ = state::open;
      ctx_.stats.workers.connects[counters::accepted].fetch_add(1, std::memory_order_relaxed);
      ctx_.stats.workers.sockets.fetch_add(1, std::memory_order_relaxed);
      auto cb = std::move(accept_);
      accept_ = nullptr;
      if (cb) cb(true, "");
      return;
    }
    case k::send_text:
    case k::send_bytes:
      if (state_ != state::open) return drop(counters::before_accept, "websocket.send", "before the accept");
      return socket.reply(m.what == k::send_text ? ws::make_shared_text(m.data)
                                                 : std::make_shared<const std::string>(ws::make_frame(ws::op_binary, m.data)));
    case k::close:
      if (m.code_replaced) {
        ctx_.stats.workers.close_codes_replaced.fetch_add(1, std::memory_order_relaxed);
        drop(counters::bad_message, "websocket.close", "a code a server may not send: closed with 1000");
      }
      if (state_ == state::connecting) return refuse(403, counters::refused, "the consumer closed before accepting");
      if (state_ == state::open) socket.close_with(close_cause(close_reason::app_closed, m.code, ""));
      return;
    case k::group_add:  // applied by the door (worker_door.cpp)
    case k::group_discard:
    case k::group_send:
    case k::worker_alive:
    case k::event:
      return;
  }
}

void django_consumer::on_group_event(consumer_socket& socket, event_delivery& d) {
  if (state_ == state::closed || state_ == state::refused) return;
  on_event(socket, d);
}

void django_consumer::on_event(consumer_socket& socket, event_delivery& d) {
  if (builtin_) {  // as on the built-in route: the frame rendered once per delivery
    if (auto frame = d.builtin_frame()) socket.reply(std::move(frame));
    return;
  }
  if (gate_) return drop(counters::before_accept, "event", "before the gate accepted the socket");
  if (render_) {
    if (auto frame = d.frame_for(*render_)) {
      ++d.rendered;  // counted once per delivery (finish_delivery)
      return socket.reply(std::move(frame));
    }
  }
  if (d.forwarded_by_layerd(socket.conn())) {
    ++d.skipped;  // counted once per delivery (finish_delivery)
    return;
  }
  if (worker_.empty()) return drop(counters::before_accept, "event", "no worker has spoken for the socket yet");
  // A worker that batches gets one message for all its sockets in this delivery.
  if (batches_) return d.forward_to(worker_, channel_);
  ctx_.stats.workers.events_forwarded.fetch_add(1, std::memory_order_relaxed);
  to_worker(socket, common::worker_wire::event(channel_, *d.event), on_fail::drop);
}

void django_consumer::hand_over(consumer_socket& socket, const common::worker_wire::message& m) {
  const identity user = m.has_user ? identity{m.user_id, m.user_name, false} : ctx_.auth->guest();
  builtin_ = gate_(gate_room_, user, ctx_.link, ctx_.stats);
  builtin_->watch_presence(presence_watch());
  state_ = state::open;
  batches_ = m.in_batch;
  ctx_.stats.workers.connects[counters::accepted].fetch_add(1, std::memory_order_relaxed);
  common::log("django")->debug("gate accepted socket={} route={} user=\"{}\"", channel_, name_, user.id);
  // The consumer there ends now: its disconnect() runs, and nothing more
  // about this socket goes to the worker.
  tell_disconnect(1000);
  // The built-in consumer's own connect (its group join; the 101 follows
  // the ack), with this socket's event-taking membership in the hub, as
  // websocket_session gives a built-in socket its plain one.
  const std::string& group = builtin_->group();
  groups_.insert(group);
  socket.join_local(group);
  auto cb = std::move(accept_);
  accept_ = nullptr;
  builtin_->on_connect(socket, std::move(cb));
}

void django_consumer::on_sweep(consumer_socket&, clock::time_point now) {
  if (builtin_) return;
  if (state_ == state::connecting && now >= deadline_) {
    return refuse(503, counters::timeout, "no worker answered within --connect-timeout-ms");
  }
}

void django_consumer::finish_delivery(server_context& ctx, event_delivery& d) {
  if (d.rendered) ctx.stats.workers.events_rendered.fetch_add(d.rendered, std::memory_order_relaxed);
  if (d.skipped) ctx.stats.workers.events_by_layerd.fetch_add(d.skipped, std::memory_order_relaxed);
  d.rendered = 0;
  d.skipped = 0;
  if (!d.forward.empty()) send_forwarded(ctx, d);
}

void django_consumer::send_forwarded(server_context& ctx, event_delivery& d) {
  // Each message stays within the event bounds (common/worker_event.hpp).
  const std::size_t per = common::worker_event_names(d.event->size());
  for (auto& [w, sockets] : d.forward) {
    for (std::size_t i = 0; i < sockets.size(); i += per) {
      const std::size_t n = std::min(per, sockets.size() - i);
      ctx.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
      ctx.stats.workers.events_forwarded.fetch_add(n, std::memory_order_relaxed);
      std::string message = n == 1 ? common::worker_wire::event(sockets[i], *d.event) : common::worker_wire::event_for(sockets, i, n, *d.event);
      auto failed = [&ctx, n, w = w](const std::string& error) {
        if (error.empty()) return;
        // The event is dropped for each socket it named (docs/protocol.md, Part 3, Liveness).
        const auto total = ctx.stats.workers.dropped[counters::send_failed].fetch_add(n, std::memory_order_relaxed) + n;
        static common::log_limiter limit;
        common::warn_limited(limit, "django", "worker message dropped worker={} reason=send_failed what=\"switchboard.event\" "
                             "sockets={} detail=\"{:.200}\" dropped_total={}", w, n, error, total);
      };
      // Only workers that batch are in d.forward: through W's outbox, alone
      // (an event is never put in a batch: its depth is its own), in order.
      if (ctx.outbox) {
        ctx.outbox->send(w, std::move(message), true, std::move(failed));
      } else {
        ctx.link.send(w, std::move(message), w, std::move(failed));
      }
    }
  }
  d.forward.clear();
}

void django_consumer::on_unknown_socket(server_context& ctx, const std::string& channel, const std::string& event) {
  auto m = common::worker_wire::decode(event, ctx.cfg.max_message_size);
  on_unknown_socket(ctx, channel, m ? &m.value() : nullptr);
}

void django_consumer::on_unknown_socket(server_context& ctx, const std::string& channel, const common::worker_wire::message* m) {
  const auto n = ctx.stats.workers.dropped[counters::unknown_socket].fetch_add(1, std::memory_order_relaxed) + 1;
  static common::log_limiter limit;
  common::warn_limited(limit, "django", "worker message dropped socket={} reason=unknown_socket dropped_total={}", channel, n);
  if (m && m->what == common::worker_wire::message::kind::accept) {
    // The consumer there believes it has a socket: end it (docs/protocol.md, Part 3).
    const std::string worker = m->worker;
    ctx.stats.workers.to_worker.fetch_add(1, std::memory_order_relaxed);
    ctx.link.send(worker, common::worker_wire::disconnect(channel, 1006), worker, [](const std::string&) {});
  }
}

}  // namespace sb::gateway
