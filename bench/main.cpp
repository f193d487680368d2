// main.cpp — switchboard-bench: parse options, run the coordinator.
//
// Kept thin: everything lives in the coordinator (parent) and the workers
// (forked children). Exit codes: 0 done, 1 aborted, 2 bad options or plan.
#include <csignal>
#include <exception>
#include <iostream>

#include "bench/bench_options.hpp"
#include "bench/coordinator.hpp"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const sb::bench::bench_options opt = sb::bench::parse_options(argc, argv);
  try {
    sb::bench::coordinator c(opt);
    return c.run();
  } catch (const std::exception& e) {
    std::cerr << "switchboard-bench: " << e.what() << "\n";
    return 1;
  }
}
