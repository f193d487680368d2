// options.hpp — switchboard-cli's command line: global options, a
// command and its arguments.
//
// Why a parser of its own rather than common/cli.hpp: the daemons take
// options only, the CLI takes `command ARG...` with options anywhere, and
// its exit codes are part of its contract (2 = the caller's mistake, so a
// script can tell a typo from an outage). Parsing prints nothing itself;
// the caller decides what goes to stdout (help) and stderr (errors).
// Pure function over argv; no I/O, no globals.
#pragma once

#include <string>
#include <vector>

#include "common/redis_url.hpp"

namespace sb::cli {

struct options {
  std::string layerd = "tcp://127.0.0.1:7100";
  // --redis, repeatable: the Redis hosts in channels_redis' order.
  std::vector<std::string> redis_texts;  // as given; empty means the default
  std::vector<common::redis_url> redis;
  std::string prefix = "asgi";
  int timeout_ms = 3000;
  // CURVE to layerd: both set, or both empty.
  std::string curve_secret_file;
  std::string layerd_public_key_file;
  std::string command;            // empty when only --help/--version was asked
  std::vector<std::string> args;  // the command's positional arguments
};

struct parsed {
  enum class outcome { run, help, version, usage_error };
  outcome what = outcome::usage_error;
  cli::options options;
  std::string error;  // one line, when usage_error
};

parsed parse(int argc, const char* const* argv);

// The --help text (commands, options with their defaults, exit codes).
std::string usage();

}  // namespace sb::cli
