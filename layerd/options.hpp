// options.hpp — switchboard-layerd's settings and the command line that fills them.
//
// The structs are the single home of every default: describe_options()
// shows them in --help by reading a default-constructed struct, and
// parse_options() starts from one, so the two cannot disagree. Parsing ends
// the process like every Switchboard binary (common/cli.hpp): --help and
// --version exit 0, a bad value prints one line and exits 2.
//
// Threading: call from main() before any thread starts.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "common/host_port.hpp"
#include "common/limits.hpp"
#include "common/redis_url.hpp"
#include "common/result.hpp"
#include "layerd/fernet.hpp"

namespace sb::layerd {

// Room history for the groups whose name matches `pattern` (a glob, as
// layerd/channels_wire.hpp's glob_match): at most about `maxlen` messages,
// the stream expiring `ttl_s` after its last message (room_history.hpp).
struct history_setting {
  std::string pattern;
  int maxlen = 100;
  int ttl_s = 86400;
};

// What the layer server needs.
struct layerd_config {
  std::string bind = "tcp://127.0.0.1:7100";
  // Redis hosts in channels_redis' order (Django's CONFIG "hosts"): group
  // keys live on H(group), inboxes on H(non-local name); see redis_ring.
  std::vector<common::redis_url> redis_hosts{common::redis_url{}};
  std::string prefix = "asgi";
  int group_expiry_s = common::limits::default_group_expiry_s;
  int refresh_interval_s = common::limits::default_refresh_interval_s;
  int gateway_timeout_ms = common::limits::default_gateway_timeout_ms;
  std::string id = "layerd";
  // channels_redis settings the Django side uses (its defaults).
  int expiry_s = 60;   // message lifetime and inbox TTL
  int capacity = 100;  // messages per inbox key
  // Pending notifications: notify events sent to a "notification_*" group
  // are kept (newest pending_max, none older than pending_age_s) and sent
  // to each new member of the group first.
  int pending_max = 100;
  int pending_age_s = 86400;
  // Room history settings, first match wins; empty: history off.
  std::vector<history_setting> history{history_setting{"chat_*", 100, 86400}};
  // Presence (layerd/presence.hpp): changes to a group's users are sent
  // at most once per presence_debounce_ms, as the window's net change;
  // above presence_list_max users only counts are sent.
  int presence_debounce_ms = 1000;
  int presence_list_max = 100;
  // channels_redis' channel_capacity: (glob, capacity), first match wins.
  std::vector<std::pair<std::string, int>> channel_capacity;
  // channels_redis' symmetric_encryption_keys: encrypt with the first,
  // accept any.
  std::vector<fernet::key> encryption_keys;
  // CURVE on the ROUTER socket (layerd/zap_auth.hpp): both set, or both
  // empty (then only a loopback --bind, or --insecure).
  std::string curve_secret_file;
  std::string curve_allow_file;
  bool insecure = false;
};

// What the process needs around it: the HTTP listeners.
struct layerd_options {
  layerd_config layer;
  common::host_port http_listen{"127.0.0.1", 7180};  // used only with a token
  std::string api_token;                             // empty: no HTTP API
  std::optional<common::host_port> metrics_listen;   // empty: no /metrics
};

// Whether a ZeroMQ endpoint can only be reached from this host: tcp:// on
// 127.0.0.0/8, ::1 or localhost, and every ipc:// and inproc://.
bool is_loopback_endpoint(const std::string& endpoint);

// One --history value: "PATTERN MAXLEN TTL" (TTL in seconds, or with a
// suffix s, m, h or d), or "off" (nullopt). Errors name what is wrong.
common::result<std::optional<history_setting>> parse_history_setting(const std::string& text);

// The option table, defaults read from layerd_options{}.
boost::program_options::options_description describe_options();

// Parses the command line, environment and --config file, sets up logging
// (--log-level) and returns the settings; exits 0 or 2 as said above.
layerd_options parse_options(int argc, char** argv, const boost::program_options::options_description& desc);

}  // namespace sb::layerd
