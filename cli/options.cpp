// options.cpp — see options.hpp.
//
// Options may come before or after the command (`switchboard-cli --prefix x
// groups` and `switchboard-cli groups --prefix x` mean the same); `--`
// ends the options so a name that starts with '-' can still be passed; a
// lone `-` is an argument (the JSON commands read it as "stdin").
#include "cli/options.hpp"

#include <charconv>
#include <string_view>

namespace sb::cli {
namespace {

// The largest --timeout-ms accepted: every wait of the CLI is bounded by it.
constexpr int max_timeout_ms = 600'000;

bool parse_timeout(std::string_view s, int& out) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 1 || v > max_timeout_ms) return false;
  out = v;
  return true;
}

}  // namespace

std::string usage() {
  return "Usage: switchboard-cli [options] COMMAND [ARG...]\n"
         "Publish to Switchboard groups and channels, and inspect or edit group membership in Redis\n"
         "(channels_redis layout), from scripts and cron jobs, without Django.\n"
         "\n"
         "Commands:\n"
         "  group-send GROUP JSON      send the event JSON (an object with a string \"type\") to every member\n"
         "                             of GROUP, through layerd (Switchboard sockets and Django consumers)\n"
         "  send CHANNEL JSON          send the event JSON to one channel through layerd: a Switchboard\n"
         "                             socket (specific.<gateway>!<conn>) or a Django channel (e.g. a worker\n"
         "                             channel); exit 1 if layerd refuses it (no_route, channel_full, ...)\n"
         "  group-add GROUP CHANNEL    add CHANNEL to GROUP in Redis (ZADD + EXPIRE 86400, as channels_redis)\n"
         "  group-discard GROUP CHANNEL  remove CHANNEL from GROUP in Redis (ZREM)\n"
         "  groups                     list groups in Redis with their member counts\n"
         "  members GROUP              list the members of GROUP in Redis; exit 1 if it does not exist\n"
         "  presence GROUP             who is in GROUP (per user, several tabs once), asked of the layerd\n"
         "                             that owns it: give --layerd the gateways' list (A,B,... in their\n"
         "                             --layerd order) and the owner is picked as they pick it; prints\n"
         "                             'count N', then one 'ID<TAB>NAME<TAB>user|guest' line per user\n"
         "  keygen PREFIX              write a new CURVE key pair: PREFIX.key (secret, mode 0600) and\n"
         "                             PREFIX.pub (public); print the public key\n"
         "  JSON may be '-' to read it from stdin (needed for events larger than one argument allows).\n"
         "\n"
         "Options (anywhere on the line; '--' ends them):\n"
         "  --layerd ENDPOINT   layerd ZeroMQ endpoint (default tcp://127.0.0.1:7100); for presence, a\n"
         "                      comma-separated list like the gateways'\n"
         "  --redis URL         redis://[:password@]host[:port][/db] (default redis://127.0.0.1:6379/0);\n"
         "                      or a Sentinel set: sentinel://host[:port][,host[:port]...]/master_name\n"
         "                      [?db=N&password=P&sentinel_password=S];\n"
         "                      repeat for several hosts, in the order of Django's CHANNEL_LAYERS hosts\n"
         "  --prefix PREFIX     channels_redis key prefix (default asgi)\n"
         "  --timeout-ms N      bound on every wait for layerd or Redis, 1..600000 (default 3000)\n"
         "  --curve-secret-file FILE  this client's CURVE secret key: talk CURVE to layerd (its public key\n"
         "                      must be on layerd's allow-list as `client`); needs --layerd-public-key-file\n"
         "  --layerd-public-key-file FILE  layerd's CURVE public key\n"
         "  -h, --help          print this help and exit\n"
         "  --version           print the version and exit\n"
         "\n"
         "Exit codes: 0 done; 1 layerd or Redis unreachable, refused, or no such group;\n"
         "            2 bad usage, bad name, bad JSON or an event over 1 MiB.\n";
}

parsed parse(int argc, const char* const* argv) {
  parsed out;
  auto fail = [&out](std::string text) {
    out.what = parsed::outcome::usage_error;
    out.error = std::move(text);
    return out;
  };
  bool help = false, version = false, options_done = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help = true;
      continue;
    }
    if (arg == "--version") {
      version = true;
      continue;
    }
    // --name VALUE or --name=VALUE
    std::string_view name = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name != "--layerd" && name != "--redis" && name != "--prefix" && name != "--timeout-ms" &&
        name != "--curve-secret-file" && name != "--layerd-public-key-file") {
      return fail("unknown option " + std::string(name));
    }
    if (!has_value) {
      if (i + 1 >= argc) return fail("option " + std::string(name) + " needs a value");
      value = argv[++i];
    }
    if (name == "--layerd") {
      if (value.empty()) return fail("--layerd must not be empty");
      out.options.layerd = value;
    } else if (name == "--redis") {
      out.options.redis_texts.emplace_back(value);
    } else if (name == "--curve-secret-file") {
      out.options.curve_secret_file = value;
    } else if (name == "--layerd-public-key-file") {
      out.options.layerd_public_key_file = value;
    } else if (name == "--prefix") {
      if (value.empty()) return fail("--prefix must not be empty");
      out.options.prefix = value;
    } else if (!parse_timeout(value, out.options.timeout_ms)) {
      return fail("--timeout-ms must be a whole number of milliseconds from 1 to " + std::to_string(max_timeout_ms));
    }
  }
  if (help) {
    out.what = parsed::outcome::help;
    return out;
  }
  if (version) {
    out.what = parsed::outcome::version;
    return out;
  }
  if (out.options.curve_secret_file.empty() != out.options.layerd_public_key_file.empty()) {
    return fail("--curve-secret-file and --layerd-public-key-file go together");
  }
  if (out.options.redis_texts.empty()) out.options.redis_texts.emplace_back("redis://127.0.0.1:6379/0");
  auto urls = common::parse_redis_urls(out.options.redis_texts);
  if (!urls) return fail("--redis: " + urls.error_text());
  out.options.redis = std::move(urls.value());
  if (positional.empty()) return fail("no command given");
  out.options.command = positional.front();
  out.options.args.assign(positional.begin() + 1, positional.end());
  out.what = parsed::outcome::run;
  return out;
}

}  // namespace sb::cli
