// cli.hpp — option parsing shared by switchboard-gateway and -layerd.
//
// Scripts rely on one contract: --help lists every option with its default
// and exits 0; --version prints the version; a bad option or value, or an
// unreadable or malformed config file, prints one line on stderr and exits 2.
//
// Every option can come from four places, highest first: the command line,
// the environment (SWITCHBOARD_<OPTION>: upper case, '-' -> '_'), the INI file
// named by --config (`key = value`, long names without dashes; repeat a key
// for a repeatable option), and the built-in default. A source replaces,
// never extends, the value of a lower one (also for repeatable options), so
// `--layerd X` on the command line drops every `layerd = ...` of the file.
// Single-threaded: call once from main() before any thread starts.
#pragma once

#include <boost/program_options.hpp>

namespace sb::common {

// Adds --help, --version, --config and --log-level to `desc`.
void add_common_options(boost::program_options::options_description& desc);

// Parses argv, the environment and the config file. Handles --help/--version
// (exit 0) and errors (exit 2).
boost::program_options::variables_map parse_command_line(int argc, char** argv,
                                                         const boost::program_options::options_description& desc,
                                                         const char* program, const char* summary);

// SIGHUP: reads every source again and applies what can change while
// running (the log level). Never exits; a bad file logs one warning and
// keeps the running settings. Returns whether the reload took.
bool reload_log_level(int argc, char** argv, const boost::program_options::options_description& desc);

}  // namespace sb::common
