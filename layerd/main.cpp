// main.cpp — switchboard-layerd: read the options, start the layer server
// and its HTTP listeners, run until a signal.
//
// Kept to the start-up story so tests link the real code (sb_layerd_lib).
// Start-up errors end the process with one line: bad options exit 2
// (layerd/options.cpp), an endpoint that cannot be bound exits 1; an
// unreachable Redis is not fatal (the server retries).
#include <csignal>
#include <memory>

#include "common/cli.hpp"
#include "common/logging.hpp"
#include "layerd/http_api.hpp"
#include "layerd/layer_server.hpp"
#include "layerd/options.hpp"

namespace {
sb::layerd::layer_server* g_server = nullptr;
extern "C" void on_signal(int) {
  if (g_server) g_server->request_stop();
}
extern "C" void on_hup(int) {
  if (g_server) g_server->request_reload();  // only an atomic store and an eventfd write
}
}  // namespace

int main(int argc, char** argv) {
  const auto desc = sb::layerd::describe_options();
  const auto options = sb::layerd::parse_options(argc, argv, desc);
  auto log = sb::common::log("main");
  try {
    sb::layerd::layer_server server(options.layer);
    // An empty token serves only GET /metrics, so the API needs one.
    auto listen = [&](const sb::common::host_port& at, const std::string& token, const char* what) {
      auto api = std::make_unique<sb::layerd::http_api>(server, at.host, at.port, token);
      api->start();
      log->info("{} listening address={}:{}", what, at.host, api->port());
      return api;
    };
    std::unique_ptr<sb::layerd::http_api> api, metrics;
    if (!options.api_token.empty()) api = listen(options.http_listen, options.api_token, "http api");
    if (options.metrics_listen) metrics = listen(*options.metrics_listen, "", "metrics");
    server.on_reload = [&] { sb::common::reload_log_level(argc, argv, desc); };
    g_server = &server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_hup);
    server.run();
    g_server = nullptr;
  } catch (const std::exception& e) {
    log->critical("layerd failed error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
