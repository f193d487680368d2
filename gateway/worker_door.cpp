// worker_door.cpp — see worker_door.hpp.
#include "gateway/worker_door.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "common/names.hpp"
#include "gateway/django_consumer.hpp"
#include "gateway/hub.hpp"
#include "gateway/layer_link.hpp"
#include "gateway/server_context.hpp"
#include "gateway/worker_registry.hpp"

namespace sb::gateway {

namespace {
using counters = gateway_stats::worker_counters;
using kind = common::worker_wire::message::kind;
}  // namespace

worker_door::worker_door(server_context& ctx) : ctx_(ctx) {}

worker_door::~worker_door() = default;

void worker_door::open(opening o) {
  boost::asio::dispatch(ctx_.hub_ref.context(0), [this, o = std::move(o)]() mutable {
    auto& s = sockets_[o.conn];
    s.channel = std::move(o.channel);
    s.gate = o.gate;
    s.to_socket = std::move(o.to_socket);
    s.consumer = o.consumer;
    s.socket = o.socket;
  });
}

void worker_door::close(std::uint64_t conn) {
  // Always later, never inline: a close may come from a socket the door is applying a message to.
  boost::asio::post(ctx_.hub_ref.context(0), [this, conn] { do_close(conn); });
}

void worker_door::do_close(std::uint64_t conn) {
  auto it = sockets_.find(conn);
  if (it == sockets_.end()) return;
  auto& s = it->second;
  for (const auto& g : s.groups) ctx_.link.group_discard(g, s.channel);
  if (s.entry && ctx_.workers) ctx_.workers->detach(s.entry, s.channel);
  gapped_.erase(conn);
  sockets_.erase(it);
}

void worker_door::drop(const socket_state& s, int reason, const char* what, const std::string& detail) {
  django_consumer::count_drop(ctx_, s.channel, reason, what, detail);
}

void worker_door::on_message(std::uint64_t conn, const std::shared_ptr<const std::string>& event, bool by_layerd) {
  auto it = sockets_.find(conn);
  if (it == sockets_.end() && by_layerd) {
    // Sent already, by layerd, for a socket that has just closed here (as
    // under daphne, a consumer's last group_send still goes out).
    ctx_.stats.workers.group_sends_by_layerd.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (it == sockets_.end()) {
    return django_consumer::on_unknown_socket(ctx_, common::make_channel(ctx_.gateway_id, hub::conn_string(conn)), *event);
  }
  auto& s = it->second;
  auto decoded = common::worker_wire::decode(*event, ctx_.cfg.max_message_size);
  if (!decoded) return drop(s, counters::bad_message, "undecodable", decoded.error_text());
  auto& m = decoded.value();
  m.applied = by_layerd && m.what == kind::group_send;
  // A send() to S from Django or a Switchboard client: the socket renders or forwards it.
  if (m.what == kind::event) return ctx_.hub_ref.deliver_events(event, {conn});
  ctx_.stats.workers.from_worker.fetch_add(1, std::memory_order_relaxed);
  if (m.what == kind::worker_alive) return drop(s, counters::bad_message, "worker_alive", "sent to a socket, not to the control channel");
  if (s.worker.empty()) {
    s.worker = m.worker;
    // The socket learns W with its first message; one it is not handed
    // (a group_send) is announced, so a socket that goes before the accept
    // still tells W (websocket.disconnect).
    if (m.what == kind::group_send) {
      common::worker_wire::message note;
      note.what = kind::worker_alive;
      note.worker = m.worker;
      hand_on(s, std::move(note));
    }
  } else if (m.worker != s.worker) {
    return drop(s, counters::wrong_worker, "another worker", m.worker);
  }
  if (s.entry) s.entry->heard();
  const auto now = clock::now();
  using order = seq_reorder<common::worker_wire::message>;
  switch (s.order.offer(m.seq, std::move(m), now, event->size())) {
    case order::verdict::apply: {
      auto ready = s.order.take_ready();
      apply(s, ready);
      while (auto next = s.order.pop_ready(now)) apply(s, *next);
      if (!s.order.waiting()) gapped_.erase(conn);
      return;
    }
    case order::verdict::waiting:
      gapped_.insert(conn);
      if (by_layerd) ctx_.stats.workers.group_sends_by_layerd_ahead.fetch_add(1, std::memory_order_relaxed);
      return;
    case order::verdict::duplicate:
      return drop(s, counters::out_of_order, "duplicate seq", std::to_string(m.seq));
    case order::verdict::overflow:
      drop(s, counters::out_of_order, "too many messages ahead of their turn", std::to_string(s.order.waiting()));
      return end(s, "worker messages out of order");
  }
}

void worker_door::apply(socket_state& s, common::worker_wire::message& m) {
  const bool group_op = m.what == kind::group_add || m.what == kind::group_discard;
  // A gate's consumer joining or leaving the room, before or after the
  // hand-over: the built-in consumer manages its group itself.
  if (s.gate && group_op) return;
  if (s.handed_over) return drop(s, counters::unknown_socket, "after the hand-over", "the socket is the built-in consumer's now");
  switch (m.what) {
    case kind::accept:
      if (!s.entry && ctx_.workers) s.entry = ctx_.workers->attach(s.worker, s.channel);
      if (s.gate) {
        s.handed_over = true;
      } else if (m.in_batch && m.render && !s.route) {
        // From now on the group's layerd writes the events this RENDER does
        // not cover to W itself (layerd/worker_members.hpp): it hears the
        // worker with every group the socket is in, and joins after this.
        s.route = proto::worker_route{s.worker, m.render->msgpack_bytes()};
        for (const auto& g : s.groups) ctx_.link.group_add_worker(g, s.channel, *s.route);
      }
      return hand_on(s, std::move(m));
    case kind::send_text:
    case kind::send_bytes:
    case kind::close:
      return hand_on(s, std::move(m));
    case kind::group_add:
      if (s.groups.count(m.data)) return;
      if (s.groups.size() >= max_groups) return drop(s, counters::bad_message, "switchboard.group_add", "too many groups");
      s.groups.insert(m.data);
      // Local membership first: the group's deliveries come back through this thread after the link's ack.
      hand_on(s, m);
      if (s.route) return ctx_.link.group_add_worker(m.data, s.channel, *s.route);
      ctx_.link.group_add(m.data, s.channel, [](bool, const std::string&) {});
      return;
    case kind::group_discard:
      if (!s.groups.erase(m.data)) return;
      hand_on(s, m);
      ctx_.link.group_discard(m.data, s.channel);
      return;
    case kind::group_send:
      if (m.applied) {
        ctx_.stats.workers.group_sends_by_layerd.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (!ctx_.link.group_send(m.data, std::move(m.event_msgpack))) {
        drop(s, counters::send_failed, "switchboard.group_send", "too many group_sends not acknowledged by layerd");
      }
      return;
    case kind::worker_alive:
    case kind::event:
      return;
  }
}

void worker_door::hand_on(socket_state& s, common::worker_wire::message m) {
  s.to_socket([c = s.consumer, sock = s.socket, m = std::move(m)]() mutable { c->from_door(*sock, m); });
}

void worker_door::end(socket_state& s, const std::string& why) {
  s.to_socket([c = s.consumer, sock = s.socket, why] { c->door_ended(*sock, why); });
}

std::optional<std::vector<std::string>> worker_door::waiting() const {
  if (gapped_.size() > common::limits::max_batch_done_waiting) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(gapped_.size());
  for (auto conn : gapped_) out.push_back(hub::conn_string(conn));
  return out;
}

void worker_door::sweep(clock::time_point now) {
  for (auto it = gapped_.begin(); it != gapped_.end();) {
    auto s = sockets_.find(*it);
    if (s == sockets_.end() || !s->second.order.waiting()) {
      it = gapped_.erase(it);
      continue;
    }
    if (s->second.order.gap_expired(now)) {
      drop(s->second, counters::out_of_order, "a seq gap that did not fill in time", "next=" + std::to_string(s->second.order.next()));
      end(s->second, "worker messages out of order");
      it = gapped_.erase(it);  // the socket ends; its door closes with it
      continue;
    }
    ++it;
  }
}

}  // namespace sb::gateway
