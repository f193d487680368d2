// gateway_server.cpp — see gateway_server.hpp.
#include "gateway/gateway_server.hpp"

#include <random>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/digest.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/service_notify.hpp"
#include "gateway/django_consumer.hpp"
#include "gateway/worker_registry.hpp"

namespace sb::gateway {

std::string gateway_server::make_run_id(const std::string& id) {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> hex(0, 15);
  std::string out = id + ".";
  for (int i = 0; i < 16; ++i) out += "0123456789abcdef"[hex(rd)];
  return out;
}

gateway_server::gateway_server(gateway_config cfg) : cfg_(std::move(cfg)), hub_(cfg_.threads, std::chrono::microseconds(cfg_.flush_interval_us)) {
  common::prepare_digests();  // every handshake hashes its key (Sec-WebSocket-Accept)
  const std::string run_id = make_run_id(cfg_.id);
  link_ = std::make_unique<layer_link>(cfg_, run_id, hub_);
  ctx_ = std::make_unique<server_context>(cfg_, hub_, *link_, run_id);
  // Django routes (docs/protocol.md, Part 3): worker liveness, the control
  // channel, and messages for sockets this gateway no longer holds.
  workers_ = std::make_unique<worker_registry>(*ctx_);
  ctx_->workers = workers_.get();
  outbox_ = std::make_unique<worker_outbox>(*link_, ctx_->stats);
  ctx_->outbox = outbox_.get();
  doors_ = std::make_unique<worker_door>(*ctx_);
  ctx_->doors = doors_.get();
  link_->on_control([w = workers_.get()](const std::string& event, const std::vector<std::uint32_t>& applied) {
    w->on_control(event, applied);
  });
  link_->on_waiting([d = doors_.get()] { return d->waiting(); });
  link_->on_socket_message([d = doors_.get()](std::uint64_t conn, const std::shared_ptr<const std::string>& event) {
    d->on_message(conn, event);
  });
  hub_.on_forwarded([ctx = ctx_.get()](event_delivery& d) { django_consumer::finish_delivery(*ctx, d); });
  hub_.on_unknown_event_target([ctx = ctx_.get()](std::uint64_t conn, const std::string& event) {
    django_consumer::on_unknown_socket(*ctx, common::make_channel(ctx->gateway_id, hub::conn_string(conn)), event);
  });
  if (!cfg_.tls_cert.empty()) {
    auto loaded = load_tls_context(cfg_.tls_cert, cfg_.tls_key);
    if (!loaded.context) throw std::runtime_error(loaded.error);
    ctx_->tls.set(std::move(loaded.context));
  }
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(cfg_.listen_host, ec);
  if (ec) throw std::runtime_error("bad --listen address " + cfg_.listen_host);
  listener_ = std::make_shared<listener>(*ctx_, boost::asio::ip::tcp::endpoint(addr, cfg_.listen_port));
}

void gateway_server::reload_tls() {
  if (cfg_.tls_cert.empty()) return;
  auto log = common::log("main");
  auto loaded = load_tls_context(cfg_.tls_cert, cfg_.tls_key);
  if (!loaded.context) {
    log->error("TLS reload failed, keeping the running certificate error=\"{}\"", loaded.error);
    return;
  }
  ctx_->tls.set(std::move(loaded.context));
  log->info("TLS certificate reloaded cert={}", cfg_.tls_cert);
}

gateway_server::~gateway_server() {
  hub_.stop();
  workers_->stop();  // its timer goes before thread 0's io_context
  link_->stop();  // before its watchers' io_context goes; a no-op after run()
  listener_.reset();
  hub_.destroy_handlers();  // sessions die while the link (stopped) and context still exist
}

void gateway_server::run() {
  auto log = common::log("main");
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      log->info("reloading signal=SIGHUP");
      if (on_reload) on_reload();
      reload_tls();
      signals.async_wait(on_signal);
      return;
    }
    log->info("stopping signal={}", sig);
  };
  signals.async_wait(on_signal);
  hub_.start();
  link_->start();
  boost::asio::post(hub_.context(0), [w = workers_.get()] { w->start(); });
  listener_->run();
  const auto ep = listener_->local_endpoint();
  log->info("listening address={}:{} scheme={} gateway={} threads={} layerds={}", ep.address().to_string(), ep.port(),
            cfg_.tls_cert.empty() ? "http" : "https", ctx_->gateway_id, hub_.threads(), cfg_.layerds.size());
  common::notify_ready("serving " + ep.address().to_string() + ":" + std::to_string(ep.port()));
  signals_ioc.run();
  // Drain: refuse new WebSockets (503) and say 503 on /healthz so nginx
  // and load balancers look elsewhere, ask every client to go (1001, after
  // what is already queued for it), and give them until the drain timeout
  // to leave, so they reconnect elsewhere.
  ctx_->draining.store(true);
  common::notify_stopping("draining " + std::to_string(hub_.connections()) + " connections");
  log->info("draining connections={} timeout_ms={}", hub_.connections(), cfg_.drain_timeout_ms);
  hub_.close_all();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.drain_timeout_ms);
  while (hub_.connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the main thread only; I/O threads keep running
  }
  log->info("drained connections_left={}", hub_.connections());
  listener_->stop();
  link_->stop();  // tells layerds we are gone
  hub_.stop();
  workers_->stop();
  listener_.reset();
  hub_.destroy_handlers();
  log->info("stopped gateway={}", ctx_->gateway_id);
}

}  // namespace sb::gateway
