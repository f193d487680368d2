// main.cpp — switchboard-cli: publish to Switchboard and edit group
// membership from scripts, without Django.
//
// Kept thin: parsing is in cli/options, the commands in cli/commands. The
// exit code is the interface scripts rely on: 0 done, 1 layerd or Redis
// unreachable or refused, 2 bad usage or input (an unknown command or no
// command also prints the usage).
//
// Single-threaded: main runs one command and exits.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/options.hpp"

int main(int argc, char** argv) {
  using sb::cli::parsed;
  const parsed p = sb::cli::parse(argc, argv);
  switch (p.what) {
    case parsed::outcome::help:
      std::cout << sb::cli::usage();
      return sb::cli::exit_code::ok;
    case parsed::outcome::version:
      std::cout << "switchboard-cli " << SWITCHBOARD_VERSION << "\n";
      return sb::cli::exit_code::ok;
    case parsed::outcome::usage_error:
      if (p.error == "no command given") {
        std::cerr << "switchboard-cli: no command given\n\n" << sb::cli::usage();
      } else {
        std::cerr << "switchboard-cli: " << p.error << " (see --help)\n";
      }
      return sb::cli::exit_code::usage;
    case parsed::outcome::run:
      break;
  }
  return sb::cli::run_command(p.options, std::cin, std::cout, std::cerr);
}
