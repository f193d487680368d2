// options.hpp — switchboard-gateway's command line, environment and config file.
//
// Every default lives in gateway_config (gateway_config.hpp); --help shows
// them by reading a default-built struct, so the two cannot disagree. The
// contract is common/cli.hpp's: --help and --version exit 0, a bad option
// or value prints one line on stderr and exits 2.
//
// Single-threaded: parse_options() once from main() before any thread
// starts; reload_log_level() from the SIGHUP handler (it fills a scratch
// config, never the running one).
#pragma once

#include "gateway/gateway_config.hpp"

namespace sb::gateway {

// Parses and checks every source, sets up logging, returns the config.
gateway_config parse_options(int argc, char** argv);

// SIGHUP: reads every source again and applies the log level.
bool reload_log_level(int argc, char** argv);

}  // namespace sb::gateway
