// commands.hpp — what each switchboard-cli command does.
//
// Each command validates all of its input before it touches the network
// (so a typo never half-happens), then talks to layerd (group-send, send)
// or to Redis directly (group-add, group-discard, groups, members), prints
// results on stdout and at most one error line on stderr, and returns the
// process exit code: 0 done, 1 the outside world failed or refused, 2 the
// caller's input was wrong.
//
// Blocking; called once from main's thread.
#pragma once

#include <iosfwd>

#include "cli/options.hpp"

namespace sb::cli {

namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failed = 1;  // unreachable, refused, no such group
inline constexpr int usage = 2;   // bad usage, bad name, bad JSON, event too large
}  // namespace exit_code

// Runs opts.command; an unknown command prints the usage to err and returns 2.
int run_command(const options& opts, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace sb::cli
