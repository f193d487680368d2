// cli_main.cpp — switchboard-cli: publish to Switchboard and edit group
// membership from scripts, without Django.
//
// Kept thin: parsing is in cli_options, the commands in cli_commands. The
// exit code is the interface scripts rely on: 0 done, 1 layerd or Redis
// unreachable or refused, 2 bad usage or input (an unknown command or no
// command also prints the usage).
#include <iostream>

#include "layerd/cli_commands.hpp"
#include "layerd/cli_options.hpp"

int main(int argc, char** argv) {
  using sb::layerd::cli_parse;
  const cli_parse p = sb::layerd::parse_cli(argc, argv);
  switch (p.what) {
    case cli_parse::outcome::help:
      std::cout << sb::layerd::cli_usage();
      return sb::layerd::cli_exit::ok;
    case cli_parse::outcome::version:
      std::cout << "switchboard-cli " << SWITCHBOARD_VERSION << "\n";
      return sb::layerd::cli_exit::ok;
    case cli_parse::outcome::usage_error:
      if (p.error == "no command given") {
        std::cerr << "switchboard-cli: no command given\n\n" << sb::layerd::cli_usage();
      } else {
        std::cerr << "switchboard-cli: " << p.error << " (see --help)\n";
      }
      return sb::layerd::cli_exit::usage;
    case cli_parse::outcome::run:
      break;
  }
  return sb::layerd::run_cli_command(p.options, std::cin, std::cout, std::cerr);
}
