// redis_link.cpp — see redis_link.hpp.
#include "layerd/redis_link.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <zmq.h>

#include <algorithm>
#include <memory>
#include <string_view>

#include "common/limits.hpp"
#include "common/logging.hpp"

namespace sb::layerd {

// hiredis calls these to say which directions it wants watched.
struct redis_adapter {
  static redis_link* self(void* p) { return static_cast<redis_link*>(p); }
  static void add_read(void* p) { self(p)->want_read_ = true; }
  static void del_read(void* p) { self(p)->want_read_ = false; }
  static void add_write(void* p) { self(p)->want_write_ = true; }
  static void del_write(void* p) { self(p)->write_done(); }
  static void cleanup(void* p) {
    self(p)->want_read_ = false;
    self(p)->write_done();
  }
};

redis_link::redis_link(common::redis_url url) : url_(std::move(url)), target_{url_.host, url_.port} {
  next_attempt_ = clock::now();
}

redis_link::~redis_link() {
  if (ctx_) {
    ctx_->data = nullptr;
    redisAsyncFree(ctx_);  // runs pending callbacks with a null reply
  }
}

void redis_link::follow_master(master_fn master, doubt_fn doubt) {
  master_ = std::move(master);
  doubt_ = std::move(doubt);
}

void redis_link::reconnect_now(const char* why) {
  if (ctx_) {
    common::log("redis")->info("redis reconnecting host={} port={} reason=\"{}\"", target_.host, target_.port, why);
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;  // its callbacks now find it is not ours
    connected_ = false;
    want_read_ = false;
    write_done();
    redisAsyncFree(c);  // pending replies get nullptr; deferred when inside one of its callbacks
  }
  backoff_ = std::chrono::milliseconds(100);
  next_attempt_ = clock::now();
}

bool redis_link::busy(bool answers) const {
  return ctx_ && connected_ && (want_write_ || (answers && ctx_->replies.head != nullptr));
}

int redis_link::fd() const { return ctx_ ? ctx_->c.fd : -1; }

short redis_link::events() const {
  short ev = 0;
  if (want_read_) ev |= ZMQ_POLLIN;
  // The clock is read only while deferred commands alone wait.
  if (want_write_ && (!write_may_wait() || clock::now() >= deferred_due_)) ev |= ZMQ_POLLOUT;
  return ev;
}

bool redis_link::write_may_wait() const {
  // Unknown to us (the connect itself) or urgent: at once.
  return connected_ && !urgent_ && deferred_due_ != clock::time_point::max();
}

void redis_link::write_done() {
  want_write_ = false;
  urgent_ = false;
  deferred_due_ = clock::time_point::max();
}

void redis_link::on_ready(short revents) {
  if (ctx_ && (revents & (ZMQ_POLLIN | ZMQ_POLLERR))) redisAsyncHandleRead(ctx_);
  if (ctx_ && (revents & ZMQ_POLLOUT)) redisAsyncHandleWrite(ctx_);
}

std::chrono::milliseconds redis_link::tick(clock::time_point now) {
  if (ctx_ && want_write_ && write_may_wait() && now < deferred_due_) {  // a deferred batch falls due first
    return std::chrono::ceil<std::chrono::milliseconds>(deferred_due_ - now);
  }
  if (ctx_ && master_ && !connected_ && now >= role_deadline_) {
    // A server that takes the connection but never answers ROLE is no
    // master to wait for.
    drop("no answer to ROLE in time");
    return std::chrono::milliseconds(1);
  }
  if (ctx_) return std::chrono::milliseconds(master_ && !connected_ ? 100 : 1000);
  if (now >= next_attempt_) connect();
  if (ctx_) return std::chrono::milliseconds(1000);
  return std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now) + std::chrono::milliseconds(1);
}

void redis_link::connect() {
  if (master_) {
    auto where = master_();
    if (!where) {  // the sentinels have not named one yet
      next_attempt_ = clock::now() + std::chrono::milliseconds(50);
      return;
    }
    target_ = *where;
  }
  redisAsyncContext* c = redisAsyncConnect(target_.host.c_str(), target_.port);
  if (!c || c->err) {
    lost(c ? c->errstr : "out of memory");
    if (c) redisAsyncFree(c);
    return;
  }
  c->data = this;
  c->ev.data = this;
  c->ev.addRead = redis_adapter::add_read;
  c->ev.delRead = redis_adapter::del_read;
  c->ev.addWrite = redis_adapter::add_write;
  c->ev.delWrite = redis_adapter::del_write;
  c->ev.cleanup = redis_adapter::cleanup;
  ctx_ = c;
  want_write_ = true;  // a non-blocking connect completes when the fd turns writable
  redisAsyncSetConnectCallback(c, &redis_link::on_connect_cb);
  redisAsyncSetDisconnectCallback(c, &redis_link::on_disconnect_cb);
  // AUTH and SELECT are queued first, so they run before anything else.
  if (!url_.password.empty()) send_raw({"AUTH", url_.password});
  if (url_.db != 0) send_raw({"SELECT", std::to_string(url_.db)});
  if (master_) {
    // A sentinel's answer can be stale: only a server that says it is the
    // master counts, else writes would fail READONLY or go to a replica.
    role_deadline_ = clock::now() + role_timeout;
    auto* fn = new reply_fn([this, c](const ::redisReply* r) {
      if (ctx_ == c) on_role(r);
    });
    if (!send_raw({"ROLE"}, fn)) delete fn;
  }
}

void redis_link::on_role(const ::redisReply* r) {
  if (!r) return;  // the connection went away; lost() has run
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING &&
      std::string_view(r->element[0]->str, r->element[0]->len) == "master") {
    became_connected();
    return;
  }
  std::string role = "unknown";
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING) {
    role.assign(r->element[0]->str, std::min<std::size_t>(r->element[0]->len, 32));
  } else if (r->type == REDIS_REPLY_ERROR) {
    role = "error";
  }
  common::log("redis")->warn("redis not a master host={} port={} role=\"{}\" reason=\"asking the sentinels again\"",
                             target_.host, target_.port, role);
  drop("not a master");
}

void redis_link::drop(const char* why) {
  redisAsyncContext* c = ctx_;
  lost(why);  // forgets c (ctx_ = nullptr), so its callbacks are ignored
  if (c) redisAsyncFree(c);  // deferred by hiredis when inside one of its callbacks
}

void redis_link::lost(const char* why) {
  auto log = common::log("redis");
  ctx_ = nullptr;
  want_read_ = false;
  write_done();
  const bool was_connected = connected_;
  connected_ = false;
  if (was_connected || !warned_) {
    log->warn("redis unavailable host={} port={} reason=\"{}\" retry_ms={}", target_.host, target_.port, why,
              backoff_.count());
    warned_ = true;
  }
  next_attempt_ = clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
  if (doubt_) doubt_(why);
}

void redis_link::became_connected() {
  connected_ = true;
  warned_ = false;
  backoff_ = std::chrono::milliseconds(100);
  ++stats_.reconnects;
  if (master_) {
    common::log("redis")->info("redis master connected host={} port={} db={}", target_.host, target_.port, url_.db);
  } else {
    common::log("redis")->info("redis connected host={} port={} db={}", url_.host, url_.port, url_.db);
  }
  if (on_connected) on_connected();
}

void redis_link::on_connect_cb(const redisAsyncContext* c, int status) {
  auto* self = static_cast<redis_link*>(c->data);
  if (!self || self->ctx_ != c) return;
  if (status != REDIS_OK) {
    self->lost(c->errstr);  // hiredis frees the context after this callback
    return;
  }
  if (self->master_) return;  // connected once ROLE says master (on_role)
  self->became_connected();
}

void redis_link::on_disconnect_cb(const redisAsyncContext* c, int status) {
  auto* self = static_cast<redis_link*>(c->data);
  if (!self || self->ctx_ != c) return;  // not ours any more (reconnect_now, drop)
  self->lost(status == REDIS_OK ? "closed" : c->errstr);
}

void redis_link::on_reply_cb(redisAsyncContext* c, void* r, void* priv) {
  auto* self = static_cast<redis_link*>(c->data);
  auto* reply = static_cast<redisReply*>(r);
  if (priv) {  // a command with a reply handler: it owns the handler
    std::unique_ptr<reply_fn> done(static_cast<reply_fn*>(priv));
    if (self && reply && reply->type == REDIS_REPLY_ERROR) self->on_error_reply(c, reply);
    if (self) (*done)(reply);  // not while the link itself is being destroyed
    return;
  }
  if (!self) return;
  if (!reply) return;  // the connection went away; lost() already logged it
  if (reply->type == REDIS_REPLY_ERROR) self->on_error_reply(c, reply);
}

void redis_link::on_error_reply(const redisAsyncContext* c, const ::redisReply* reply) {
  ++stats_.errors;
  const std::string_view text(reply->str, reply->len);
  if (log_error_replies) common::log("redis")->warn("redis error reply=\"{}\"", text);
  // A master demoted to replica (READONLY) or still loading its data
  // (LOADING) is not one to write to: ask the sentinels again.
  if (master_ && ctx_ == c && (text.substr(0, 8) == "READONLY" || text.substr(0, 7) == "LOADING")) {
    drop(text.substr(0, 8) == "READONLY" ? "READONLY: not a master" : "LOADING: not ready");
  }
}

bool redis_link::subscribe(const std::string& channel, message_fn on_message) {
  if (!connected()) {
    ++stats_.dropped;
    return false;
  }
  on_message_ = std::move(on_message);
  const char* argv[] = {"SUBSCRIBE", channel.c_str()};
  const std::size_t lens[] = {9, channel.size()};
  // hiredis keeps this callback for every message on the channel; no
  // per-call state, so nothing to free.
  if (redisAsyncCommandArgv(ctx_, &redis_link::on_message_cb, nullptr, 2, argv, lens) != REDIS_OK) {
    ++stats_.dropped;
    return false;
  }
  ++stats_.commands;
  urgent_ = true;
  return true;
}

void redis_link::on_message_cb(redisAsyncContext* c, void* r, void*) {
  auto* self = static_cast<redis_link*>(c->data);
  if (!self || !r || self->ctx_ != c || !self->on_message_) return;
  self->on_message_(static_cast<const redisReply*>(r));
}

bool redis_link::command(const std::vector<std::string>& argv) {
  // Until the connect completes, a command could still be thrown away with
  // the context; the owner keeps what matters and rewrites it on_connected.
  if (!connected()) {
    ++stats_.dropped;
    return false;
  }
  return send_raw(argv);
}

bool redis_link::command(const std::vector<std::string>& argv, reply_fn done) {
  if (!connected()) {
    ++stats_.dropped;
    return false;
  }
  auto* fn = new reply_fn(std::move(done));
  if (!send_raw(argv, fn)) {
    delete fn;
    return false;
  }
  return true;
}

bool redis_link::deferred(std::string_view resp, reply_fn done) {
  if (!connected()) {
    ++stats_.dropped;
    return false;
  }
  auto* fn = new reply_fn(std::move(done));
  if (redisAsyncFormattedCommand(ctx_, &redis_link::on_reply_cb, fn, resp.data(), resp.size()) != REDIS_OK) {
    delete fn;
    ++stats_.dropped;
    return false;
  }
  ++stats_.commands;
  if (deferred_due_ == clock::time_point::max()) {
    deferred_due_ = clock::now() + std::chrono::milliseconds(common::limits::redis_defer_ms);
  }
  return true;
}

bool redis_link::send_raw(const std::vector<std::string>& argv, reply_fn* done) {
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAsyncCommandArgv(ctx_, &redis_link::on_reply_cb, done, static_cast<int>(argv.size()), ptrs.data(),
                            lens.data()) != REDIS_OK) {
    ++stats_.dropped;
    return false;
  }
  ++stats_.commands;
  urgent_ = true;
  return true;
}

}  // namespace sb::layerd
