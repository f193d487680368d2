// cli.hpp — command-line parsing shared by switchboard-gateway and -layerd.
//
// Scripts rely on one contract: --help lists every option with its default
// and exits 0; --version prints the version; a bad option or value prints
// one line on stderr and exits 2.
#pragma once

#include <boost/program_options.hpp>

namespace sb::common {

// Adds --help, --version and --log-level to `desc`.
void add_common_options(boost::program_options::options_description& desc);

// Parses argv. Handles --help/--version (exit 0) and errors (exit 2).
boost::program_options::variables_map parse_command_line(int argc, char** argv,
                                                         const boost::program_options::options_description& desc,
                                                         const char* program, const char* summary);

}  // namespace sb::common
