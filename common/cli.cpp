// cli.cpp — see cli.hpp.
#include "common/cli.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace po = boost::program_options;

namespace sb::common {

void add_common_options(po::options_description& desc) {
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("log-level", po::value<std::string>()->default_value("info"),
     "trace, debug, info, warn, error, critical or off");
}

po::variables_map parse_command_line(int argc, char** argv, const po::options_description& desc,
                                     const char* program, const char* summary) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: " << program << " [options]\n" << summary << "\n\n" << desc << "\n";
      std::exit(0);
    }
    if (vm.count("version")) {
      std::cout << program << " " << SWITCHBOARD_VERSION << "\n";
      std::exit(0);
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
    std::exit(2);
  }
  return vm;
}

}  // namespace sb::common
