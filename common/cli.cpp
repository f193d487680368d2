// cli.cpp — see cli.hpp.
//
// Precedence is done by hand rather than by po::store's "first store wins",
// because store() merges composing (repeatable) options across calls: each
// source is parsed on its own, options already given by a higher source are
// dropped from it, and what is left is stored.
#include "common/cli.hpp"

#include "common/logging.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>

extern char** environ;

namespace po = boost::program_options;

namespace sb::common {

namespace {

constexpr const char* env_prefix = "SWITCHBOARD_";

// Options that only make sense on the command line.
bool command_line_only(const std::string& name) { return name == "help" || name == "version"; }

// An error in one source, reported as "<where>: <what>".
struct source_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::set<std::string> keys_of(const po::parsed_options& parsed) {
  std::set<std::string> keys;
  for (const auto& o : parsed.options) keys.insert(o.string_key);
  return keys;
}

void drop_keys(po::parsed_options& parsed, const std::set<std::string>& keys) {
  std::erase_if(parsed.options, [&](const po::option& o) { return keys.count(o.string_key) > 0; });
}

// SWITCHBOARD_<OPTION>=value for every option of desc (but --help/--version);
// other SWITCHBOARD_* variables belong to someone else and are ignored.
po::parsed_options parse_env(const po::options_description& desc) {
  po::parsed_options parsed(&desc);
  const std::size_t plen = std::strlen(env_prefix);
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos || entry.compare(0, plen, env_prefix) != 0) continue;
    std::string name = entry.substr(plen, eq - plen);
    for (auto& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty() || command_line_only(name) || !desc.find_nothrow(name, false)) continue;
    po::option opt;
    opt.string_key = name;
    opt.value.push_back(entry.substr(eq + 1));
    opt.original_tokens = {entry.substr(0, eq), entry.substr(eq + 1)};
    parsed.options.push_back(std::move(opt));
  }
  return parsed;
}

po::parsed_options parse_file(const std::string& path, const po::options_description& file_desc) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw source_error("config file " + path + ": is a directory");
  std::ifstream in(path);
  if (!in) throw source_error("cannot read config file " + path + ": " + std::strerror(errno));
  try {
    return po::parse_config_file(in, file_desc, false);
  } catch (const po::error& e) {
    throw source_error("config file " + path + ": " + e.what());
  }
}

}  // namespace

void add_common_options(po::options_description& desc) {
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>(),
     "read options from this INI file (`key = value`, long option names; repeat a key for a repeatable "
     "option). Precedence: command line > environment SWITCHBOARD_<OPTION> > file > defaults")
    ("log-level", po::value<std::string>()->default_value("info"),
     "trace, debug, info, warn, error, critical or off");
}

namespace {

// Every source but --help/--version, highest first; throws on any error.
po::variables_map parse_sources(int argc, char** argv, const po::options_description& desc) {
  po::variables_map vm;
  // What a file may set: everything but --help, --version and --config.
  po::options_description file_desc;
  for (const auto& o : desc.options()) {
    if (!command_line_only(o->long_name()) && o->long_name() != "config") file_desc.add(o);
  }
  auto cli = po::command_line_parser(argc, argv).options(desc).run();
  const auto cli_keys = keys_of(cli);

  auto env = parse_env(desc);
  drop_keys(env, cli_keys);
  auto higher = cli_keys;
  const auto env_keys = keys_of(env);
  higher.insert(env_keys.begin(), env_keys.end());

  po::store(cli, vm);
  for (const auto& opt : env.options) {  // one at a time, to name the variable in an error
    po::parsed_options one(&desc);
    one.options.push_back(opt);
    try {
      po::store(one, vm);
    } catch (const po::error& e) {
      throw source_error("environment " + opt.original_tokens.front() + ": " + e.what());
    }
  }
  if (vm.count("config")) {
    const auto path = vm["config"].as<std::string>();
    auto file = parse_file(path, file_desc);
    drop_keys(file, higher);
    try {
      po::store(file, vm);
    } catch (const po::error& e) {
      throw source_error("config file " + path + ": " + e.what());
    }
  }
  po::notify(vm);
  return vm;
}

}  // namespace

po::variables_map parse_command_line(int argc, char** argv, const po::options_description& desc,
                                     const char* program, const char* summary) {
  try {
    auto cli = po::command_line_parser(argc, argv).options(desc).run();
    po::variables_map probe;
    po::store(cli, probe);
    if (probe.count("help")) {
      std::cout << "Usage: " << program << " [options]\n" << summary << "\n\n" << desc << "\n";
      std::exit(0);
    }
    if (probe.count("version")) {
      std::cout << program << " " << SWITCHBOARD_VERSION << "\n";
      std::exit(0);
    }
    return parse_sources(argc, argv, desc);
  } catch (const source_error& e) {
    std::cerr << program << ": " << e.what() << "\n";
    std::exit(2);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
    std::exit(2);
  }
}

bool reload_log_level(int argc, char** argv, const po::options_description& desc) {
  auto log = common::log("main");
  try {
    const auto vm = parse_sources(argc, argv, desc);
    const auto level = vm["log-level"].as<std::string>();
    if (!setup_logging(level)) {
      log->warn("reload failed reason=\"unknown log level {}\"", level);
      return false;
    }
    log->info("reloaded log_level={}", level);
    return true;
  } catch (const std::exception& e) {
    log->warn("reload failed reason=\"{}\" keeping=previous settings", e.what());
    return false;
  }
}

}  // namespace sb::common
