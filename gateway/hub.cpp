// hub.cpp — see hub.hpp.
#include "gateway/hub.hpp"

#include <charconv>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "common/logging.hpp"
#include "common/prometheus.hpp"
#include "gateway/event_delivery.hpp"
#include "gateway/websocket_session.hpp"

namespace sb::gateway {

hub::hub(std::size_t threads, std::chrono::microseconds flush_interval) : flush_interval_(flush_interval) {
  if (threads == 0 || threads > 64) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    auto s = std::make_unique<shard>();
    s->ioc = std::make_unique<boost::asio::io_context>(1);
    s->work = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
        s->ioc->get_executor());
    shards_.push_back(std::move(s));
  }
}

hub::~hub() {
  stop();
  destroy_handlers();
}

void hub::destroy_handlers() {
  stopped_.store(true);
  for (auto& s : shards_) {
    s->sweep_timer.reset();
    s->flush_timer.reset();
    s->ioc.reset();  // destroys queued handlers and the sessions they keep alive
  }
}

std::size_t hub::next_thread() { return round_robin_.fetch_add(1, std::memory_order_relaxed) % shards_.size(); }

void hub::start() {
  running_.store(true, std::memory_order_release);
  for (auto& s : shards_) {
    s->sweep_timer = std::make_unique<boost::asio::steady_timer>(*s->ioc);
    if (flush_interval_.count() > 0) s->flush_timer = std::make_unique<boost::asio::steady_timer>(*s->ioc);
    shard* sp = s.get();
    boost::asio::post(*s->ioc, [this, sp] { arm_sweep(*sp); });
    boost::asio::io_context* ioc = s->ioc.get();
    s->thread = std::thread([ioc] {
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          // Handlers do not throw by design; if one does, log and keep serving.
          common::log("ws")->error("handler threw error=\"{}\"", e.what());
        }
      }
    });
  }
}

void hub::stop() {
  for (auto& s : shards_) {
    s->work.reset();
    if (s->ioc) s->ioc->stop();
  }
  for (auto& s : shards_) {
    if (s->thread.joinable()) s->thread.join();
  }
  running_.store(false, std::memory_order_release);
  for (auto& s : shards_) {
    s->dirty.clear();
    s->flushing.clear();
  }
}

void hub::arm_sweep(shard& s) {
  s.sweep_timer->expires_after(std::chrono::seconds(1));
  s.sweep_timer->async_wait([this, sp = &s](boost::system::error_code ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    // A sweep may close sessions (which then erase themselves later, from
    // their own handlers), so walk a snapshot of keep-alive references.
    std::vector<std::shared_ptr<websocket_session>> live;
    live.reserve(sp->sessions.size());
    for (auto& [conn, session] : sp->sessions) live.push_back(session->shared_from_this());
    for (auto& session : live) session->sweep(now);
    arm_sweep(*sp);
  });
}

void hub::mark_dirty(std::size_t thread, std::shared_ptr<websocket_session> session) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  shard& s = *shards_[thread];
  s.dirty.push_back(std::move(session));
  if (s.flush_posted) return;
  s.flush_posted = true;
  if (s.flush_timer) {
    const auto due = s.last_flush + flush_interval_;
    if (std::chrono::steady_clock::now() < due) {  // flushed recently: wait for the interval's end
      s.flush_timer->expires_at(due);
      s.flush_timer->async_wait([this, sp = &s](boost::system::error_code ec) {
        if (!ec) flush(*sp);
      });
      return;
    }
  }
  // Posted work runs after the handlers already queued in this pass, so
  // every frame delivered in the pass is in the queue when we flush.
  boost::asio::post(*s.ioc, [this, sp = &s] { flush(*sp); });
}

void hub::flush(shard& s) {
  s.flush_posted = false;
  s.flushing.swap(s.dirty);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& session : s.flushing) session->flush();
  s.flushing.clear();
  const auto t1 = std::chrono::steady_clock::now();
  s.last_flush = t1;  // the interval counts from the end of a pass's writes
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  const auto b = common::histogram_bucket(flush_bounds_ms.data(), flush_bounds_ms.size(), static_cast<double>(ns) / 1e6);
  flush_buckets_[b].fetch_add(1, std::memory_order_relaxed);
  flush_sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

hub::flush_histogram hub::flush_times() const {
  flush_histogram h;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    h.buckets[i] = flush_buckets_[i].load(std::memory_order_relaxed);
    h.count += h.buckets[i];
  }
  h.sum_ms = static_cast<double>(flush_sum_ns_.load(std::memory_order_relaxed)) / 1e6;
  return h;
}

std::uint64_t hub::add(std::size_t thread, websocket_session* session, bool events) {
  auto& s = *shards_[thread];
  const std::uint64_t conn = (static_cast<std::uint64_t>(thread) << 56) | (events ? events_bit : 0) | s.next_conn++;
  s.sessions.emplace(conn, session);
  connections_.fetch_add(1, std::memory_order_relaxed);
  if (events) events_sessions_.fetch_add(1, std::memory_order_relaxed);
  return conn;
}

void hub::remove(std::uint64_t conn) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  auto& s = *shards_[thread_of(conn)];
  if (s.sessions.erase(conn)) {
    connections_.fetch_sub(1, std::memory_order_relaxed);
    if (takes_events(conn)) events_sessions_.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool hub::parse_conn(std::string_view id, std::uint64_t& conn) const {
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), conn, 16);
  return ec == std::errc() && p == id.data() + id.size() && !id.empty() && thread_of(conn) < shards_.size();
}

void hub::close_conns(const std::vector<std::string>& conn_ids, close_reason why) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  std::vector<std::vector<std::uint64_t>> per_thread(shards_.size());
  for (const auto& id : conn_ids) {
    std::uint64_t conn = 0;
    if (parse_conn(id, conn)) per_thread[thread_of(conn)].push_back(conn);
  }
  for (std::size_t t = 0; t < shards_.size(); ++t) {
    if (per_thread[t].empty()) continue;
    shard* s = shards_[t].get();
    boost::asio::post(*s->ioc, [s, why, conns = std::move(per_thread[t])] {
      for (auto conn : conns) {
        auto it = s->sessions.find(conn);
        if (it == s->sessions.end()) continue;
        auto keep = it->second->shared_from_this();
        keep->close(why);
      }
    });
  }
}

void hub::deliver_events(const std::shared_ptr<const std::string>& event, const std::vector<std::uint64_t>& conns) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  std::vector<std::vector<std::uint64_t>> per_thread(shards_.size());
  for (auto conn : conns) {
    if (thread_of(conn) < shards_.size()) per_thread[thread_of(conn)].push_back(conn);
  }
  for (std::size_t t = 0; t < shards_.size(); ++t) {
    if (per_thread[t].empty()) continue;
    shard* s = shards_[t].get();
    boost::asio::dispatch(*s->ioc, [this, s, event, conns = std::move(per_thread[t])] {
      for (auto conn : conns) {
        auto it = s->sessions.find(conn);
        if (it == s->sessions.end()) {
          if (unknown_event_target_) unknown_event_target_(conn, *event);
          continue;
        }
        auto keep = it->second->shared_from_this();
        keep->on_layer_message(event);
      }
    });
  }
}

std::string hub::conn_string(std::uint64_t conn) {
  char buf[17];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, conn, 16);
  (void)ec;
  return std::string(buf, end);
}

void hub::close_all() {
  if (stopped_.load(std::memory_order_relaxed)) return;
  for (auto& sp : shards_) {
    shard* s = sp.get();
    boost::asio::post(*s->ioc, [s] {
      std::vector<std::shared_ptr<websocket_session>> live;
      live.reserve(s->sessions.size());
      for (auto& [conn, session] : s->sessions) live.push_back(session->shared_from_this());
      for (auto& session : live) session->close(close_reason::going_away);
    });
  }
}

void hub::join_local(std::size_t thread, const std::string& group, websocket_session* session) {
  auto& members = shards_[thread]->groups[group].members;
  session->set_local_slot(static_cast<std::uint32_t>(members.size()));
  members.push_back(session);
}

void hub::leave_local(std::size_t thread, const std::string& group, websocket_session* session) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  shard& s = *shards_[thread];
  auto it = s.groups.find(group);
  if (it == s.groups.end()) return;
  auto& members = it->second.members;
  const std::uint32_t slot = session->local_slot();
  if (slot >= members.size() || members[slot] != session) return;
  members[slot] = members.back();
  members[slot]->set_local_slot(slot);
  members.pop_back();
  // While deliver_group walks this group it must stay alive; it erases it after.
  if (it->second.empty() && s.delivering != &it->second) s.groups.erase(it);
}

void hub::join_events(std::size_t thread, const std::string& group, websocket_session* session) {
  auto& g = shards_[thread]->groups[group];
  auto [slot, fresh] = g.event_slots.try_emplace(session, static_cast<std::uint32_t>(g.event_members.size()));
  if (fresh) g.event_members.push_back(session);
}

void hub::leave_events(std::size_t thread, const std::string& group, websocket_session* session) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  shard& s = *shards_[thread];
  auto it = s.groups.find(group);
  if (it == s.groups.end()) return;
  auto& g = it->second;
  auto slot = g.event_slots.find(session);
  if (slot == g.event_slots.end()) return;
  const std::uint32_t i = slot->second;
  g.event_slots.erase(slot);
  g.event_members[i] = g.event_members.back();
  g.event_members.pop_back();
  if (i < g.event_members.size()) g.event_slots[g.event_members[i]] = i;
  if (g.empty() && s.delivering != &g) s.groups.erase(it);
}

void hub::deliver_group(const std::shared_ptr<const std::string>& frame, const std::string& group,
                        const std::shared_ptr<const std::string>& event,
                        const std::shared_ptr<const std::vector<std::uint64_t>>& forwarded) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  for (auto& sp : shards_) {
    shard* s = sp.get();
    // On the shard's own thread (the layerd link's, thread 0) it runs at
    // once, so the frames are queued before the flush that pass posts.
    boost::asio::dispatch(*s->ioc, [this, s, frame, group, event, forwarded] {
      auto it = s->groups.find(group);
      if (it == s->groups.end()) return;
      auto& members = it->second.members;
      s->delivering = &it->second;
      // send() may close a slow consumer, which leaves the group and moves
      // the last member into its slot: only step on when the slot kept its
      // session.
      for (std::size_t i = 0; i < members.size();) {
        websocket_session* session = members[i];
        session->send(frame);
        if (i < members.size() && members[i] == session) ++i;
      }
      auto& takers = it->second.event_members;
      if (event && !takers.empty()) {
        // Each renders from the frames this delivery made per RENDER spec.
        // As above: a member that closes leaves, and the last one moves
        // into its slot.
        event_delivery d(event, forwarded);
        for (std::size_t i = 0; i < takers.size();) {
          websocket_session* session = takers[i];
          session->on_group_event(d);
          if (i < takers.size() && takers[i] == session) ++i;
        }
        if (forwarded_) forwarded_(d);
      }
      s->delivering = nullptr;
      if (it->second.empty()) s->groups.erase(it);
    });
  }
}

void hub::deliver(const std::shared_ptr<const std::string>& frame, const std::vector<std::string>& conn_ids) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  std::vector<std::vector<std::uint64_t>> per_thread(shards_.size());
  for (const auto& id : conn_ids) {
    std::uint64_t conn = 0;
    if (!parse_conn(id, conn)) {
      unknown_targets_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    per_thread[thread_of(conn)].push_back(conn);
  }
  for (std::size_t t = 0; t < shards_.size(); ++t) {
    if (per_thread[t].empty()) continue;
    shard* s = shards_[t].get();
    boost::asio::dispatch(*s->ioc, [this, s, frame, conns = std::move(per_thread[t])] {
      for (auto conn : conns) {
        auto it = s->sessions.find(conn);
        if (it == s->sessions.end()) {
          unknown_targets_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        it->second->send(frame);
      }
    });
  }
}

}  // namespace sb::gateway
