// main.cpp — switchboard-gateway: the process's start-up story.
//
// Options become a gateway_config (options.cpp), the gateway_server is
// built from it and runs until SIGTERM. Kept thin so tests link the real
// code (sb_gateway_lib). Start-up errors end the process with one clear
// line; an unreachable layerd is not fatal.
//
// Threading: the main thread only; the server starts the rest.
#include <csignal>
#include <exception>

#include "common/logging.hpp"
#include "gateway/gateway_server.hpp"
#include "gateway/options.hpp"

int main(int argc, char** argv) {
  // OpenSSL writes TLS sockets itself (tls_socket.hpp) without
  // MSG_NOSIGNAL: a peer that vanished must be an error code, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const auto cfg = sb::gateway::parse_options(argc, argv);  // exits on --help or a bad value
  try {
    sb::gateway::gateway_server server(cfg);
    server.on_reload = [argc, argv] { sb::gateway::reload_log_level(argc, argv); };
    server.run();
  } catch (const std::exception& e) {
    sb::common::log("main")->critical("gateway failed error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
