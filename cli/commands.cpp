// commands.cpp — see commands.hpp.
//
// Redis keys and commands come from common/channels_keys.hpp, the module
// layerd uses too (group_add: ZADD <prefix>:group:<g> <now> <channel> then
// EXPIRE <group expiry>; group_discard: ZREM), so what the CLI writes is
// what a Django process would have written. Publishing
// goes through layerd, never straight to Redis, because only layerd knows
// which gateway holds which Switchboard socket. With several Redis hosts
// each group's key is read and written on the host channels_redis would
// use (common/redis_shard.hpp); `groups` lists every host.
#include "cli/commands.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/channels_keys.hpp"
#include "common/curve_keys.hpp"
#include "common/event.hpp"
#include "common/hash_ring.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/redis_shard.hpp"
#include "cli/layer_client.hpp"
#include "cli/redis_client.hpp"

namespace sb::cli {
namespace {

namespace lim = common::limits;

// An event's JSON on stdin may be bigger than the event (whitespace,
// escapes), but not without bound.
constexpr std::size_t max_json_bytes = 8 * lim::max_event_bytes;
// layerd (common::event_type) refuses events nested deeper than this.
// SCAN rounds for `groups`; each round is one bounded command.
constexpr int max_scan_rounds = 1'000'000;

struct ctx {
  const options& opts;
  common::channels_keys keys;
  std::istream& in;
  std::ostream& out;
  std::ostream& err;

  int fail(int code, const std::string& line) const {
    err << "switchboard-cli: " << line << "\n";
    return code;
  }
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(opts.timeout_ms); }
};

int wrong_args(const ctx& c, const char* synopsis) {
  return c.fail(exit_code::usage, std::string("usage: switchboard-cli ") + synopsis + " (see --help)");
}

std::string check_group(const std::string& g) {
  if (common::is_valid_group_name(g)) return {};
  return "invalid group name \"" + g + "\": use 1-99 characters of A-Z a-z 0-9 - _ .";
}

std::string check_channel(const std::string& ch) {
  if (common::is_valid_channel_name(ch)) return {};
  return "invalid channel name \"" + ch + "\": use 1-99 characters of A-Z a-z 0-9 - _ ., optionally followed by ! and "
         "more of them (e.g. specific.gw.0123456789abcdef!42)";
}

// The JSON argument ("-" = stdin) as a msgpack event, checked the way
// layerd will check it.
common::result<std::string> read_event(const ctx& c, const std::string& arg) {
  std::string text;
  if (arg == "-") {
    text.resize(max_json_bytes + 1);
    c.in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(c.in.gcount()));
    if (text.size() > max_json_bytes) {
      return common::error{"event JSON on stdin is over " + std::to_string(max_json_bytes) + " bytes"};
    }
  } else {
    text = arg;
  }
  // The same bounds layerd checks (common/event.hpp), checked while
  // parsing: a text that breaks them costs no more than reading it.
  auto event = common::event_from_json_checked(text);
  if (!event.ok) return common::error{(event.too_large ? "event too large: " : "bad event: ") + event.problem};
  return std::move(event.event);
}

// ---- through layerd ----

// The CURVE keys to reach layerd with, if any were given.
common::result<std::optional<common::curve_client_keys>> curve_keys(const ctx& c) {
  if (c.opts.curve_secret_file.empty()) return std::optional<common::curve_client_keys>{};
  auto keys = common::load_curve_client_keys(c.opts.curve_secret_file, c.opts.layerd_public_key_file);
  if (!keys) return common::error{keys.error_text()};
  return std::optional<common::curve_client_keys>{std::move(keys.value())};
}

// Sends m through layerd; `what` names the operation in messages.
int publish(const ctx& c, const proto::message& m, const std::string& what) {
  auto curve = curve_keys(c);
  if (!curve) return c.fail(exit_code::usage, curve.error_text());
  layer_client link(c.opts.layerd, c.timeout(), curve.value());
  if (auto w = link.run(); !w) return c.fail(exit_code::failed, w.error_text());
  auto r = link.send_checked(m);
  if (!r) return c.fail(exit_code::failed, r.error_text());
  if (r.value()) return c.fail(exit_code::failed, "layerd refused " + what + ": " + describe(*r.value()));
  return exit_code::ok;
}

// group-send and send: NAME JSON. The name is checked by `check` and the
// event read and checked before anything is sent; `make` builds the
// message from both, and `what` + NAME names it in messages.
template <class Make>
int publish_event(const ctx& c, const char* synopsis, std::string (*check)(const std::string&), Make make,
                  const std::string& what) {
  if (c.opts.args.size() != 2) return wrong_args(c, synopsis);
  const auto& name = c.opts.args[0];
  if (auto e = check(name); !e.empty()) return c.fail(exit_code::usage, e);
  auto event = read_event(c, c.opts.args[1]);
  if (!event) return c.fail(exit_code::usage, event.error_text());
  return publish(c, make(name, std::move(event.value())), what + name);
}

int cmd_group_send(const ctx& c) {
  return publish_event(
      c, "group-send GROUP JSON", check_group,
      [](const std::string& group, std::string event) { return proto::group_send{group, std::move(event)}; },
      "group-send to ");
}

int cmd_send(const ctx& c) {
  return publish_event(
      c, "send CHANNEL JSON", check_channel,
      [](const std::string& channel, std::string event) { return proto::send{channel, std::move(event)}; },
      "send to ");
}

// presence GROUP: asked of the group's owner. --layerd A,B,... is the
// gateways' list in their order, so the same consistent hash
// (common/hash_ring.hpp) picks the same owner; one that does not answer
// HELLO is skipped for the next, as the gateways fail over.
int cmd_presence(const ctx& c) {
  if (c.opts.args.size() != 1) return wrong_args(c, "presence GROUP");
  const auto& group = c.opts.args[0];
  if (auto e = check_group(group); !e.empty()) return c.fail(exit_code::usage, e);
  auto curve = curve_keys(c);
  if (!curve) return c.fail(exit_code::usage, curve.error_text());
  std::vector<std::string> endpoints;
  for (std::string_view rest = c.opts.layerd; !rest.empty();) {
    const auto comma = rest.find(',');
    if (comma != 0) endpoints.emplace_back(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (endpoints.empty()) return c.fail(exit_code::usage, "--layerd names no endpoint");
  const common::hash_ring ring(endpoints);
  std::vector<bool> alive(endpoints.size(), true);
  std::string tried;
  for (auto p = ring.owner(group, alive); p; p = ring.owner(group, alive)) {
    layer_client link(endpoints[*p], c.timeout(), curve.value());
    if (auto w = link.run(); !w) {
      tried.append(tried.empty() ? "" : "; ").append(w.error_text());
      alive[*p] = false;
      continue;
    }
    auto answer = link.presence(group);
    if (!answer) return c.fail(exit_code::failed, answer.error_text());
    if (auto* e = std::get_if<proto::error>(&answer.value())) {
      return c.fail(exit_code::failed, "layerd refused presence of " + group + ": " + describe(*e));
    }
    const auto& st = std::get<proto::presence_state>(answer.value());
    c.out << "count " << st.count << "\n";
    for (const auto& u : st.users) c.out << u.id << "\t" << u.name << "\t" << (u.guest ? "guest" : "user") << "\n";
    if (st.truncated) c.err << "switchboard-cli: note: more users than layerd's --presence-list-max; list cut\n";
    return exit_code::ok;
  }
  return c.fail(exit_code::failed, "no layerd answered: " + tried);
}

// ---- straight to Redis ----

// Runs body on a connection to Redis host number `shard`.
int with_redis(const ctx& c, std::size_t shard, auto&& body) {
  auto redis = redis_client::open(c.opts.redis.at(shard), c.timeout());
  if (!redis) return c.fail(exit_code::failed, redis.error_text());
  return body(*redis.value());
}

// ... on the host that holds `group`'s key.
int with_group_redis(const ctx& c, const std::string& group, auto&& body) {
  return with_redis(c, common::redis_shard(group, c.opts.redis.size()), body);
}

// group-add and group-discard: GROUP CHANNEL, both names checked.
int check_group_and_channel(const ctx& c, const char* synopsis) {
  if (c.opts.args.size() != 2) return wrong_args(c, synopsis);
  if (auto e = check_group(c.opts.args[0]); !e.empty()) return c.fail(exit_code::usage, e);
  if (auto e = check_channel(c.opts.args[1]); !e.empty()) return c.fail(exit_code::usage, e);
  return exit_code::ok;
}

int cmd_group_add(const ctx& c) {
  if (int rc = check_group_and_channel(c, "group-add GROUP CHANNEL"); rc != exit_code::ok) return rc;
  const auto& group = c.opts.args[0];
  const auto& channel = c.opts.args[1];
  return with_group_redis(c, group, [&](redis_client& redis) {
    const std::string key = c.keys.group(group);
    // MULTI so the member never exists without its key's TTL.
    for (const common::redis_argv& argv :
         {common::redis_argv{"MULTI"}, common::zadd_member(key, common::score_text(common::unix_now()), channel),
          common::expire(key, lim::default_group_expiry_s)}) {
      if (auto r = redis.command(argv); !r) return c.fail(exit_code::failed, r.error_text());
    }
    auto r = redis.command({"EXEC"});
    if (!r) return c.fail(exit_code::failed, r.error_text());
    if (r.value()->type != REDIS_REPLY_ARRAY) {
      return c.fail(exit_code::failed, "Redis did not run the group-add transaction");
    }
    return exit_code::ok;
  });
}

int cmd_group_discard(const ctx& c) {
  if (int rc = check_group_and_channel(c, "group-discard GROUP CHANNEL"); rc != exit_code::ok) return rc;
  const auto& group = c.opts.args[0];
  const auto& channel = c.opts.args[1];
  return with_group_redis(c, group, [&](redis_client& redis) {
    auto r = redis.command(common::zrem_member(c.keys.group(group), channel));
    if (!r) return c.fail(exit_code::failed, r.error_text());
    return exit_code::ok;  // like channels_redis, discarding a non-member is not an error
  });
}

// What `groups` found over every host.
struct group_listing {
  std::map<std::string, long long> counts;
  std::size_t not_groups = 0;  // keys under the prefix that are not sorted sets
  std::size_t misplaced = 0;   // group keys on a host channels_redis would not read them from
};

// SCANs host `shard` for group keys and counts their members.
int list_groups_on(const ctx& c, std::size_t shard, group_listing& found) {
  return with_redis(c, shard, [&](redis_client& redis) {
    const std::string pattern = c.keys.group_scan_pattern();
    std::set<std::string> seen;  // SCAN may return a key twice
    std::string cursor = "0";
    for (int round = 0;; ++round) {
      if (round >= max_scan_rounds) return c.fail(exit_code::failed, "SCAN did not finish; too many keys in Redis");
      auto r = redis.command(common::scan_groups(cursor, pattern));
      if (!r) return c.fail(exit_code::failed, r.error_text());
      const redisReply* rep = r.value().get();
      if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
          rep->element[1]->type != REDIS_REPLY_ARRAY) {
        return c.fail(exit_code::failed, "unexpected SCAN reply from Redis");
      }
      cursor.assign(rep->element[0]->str, rep->element[0]->len);
      const redisReply* batch = rep->element[1];
      for (std::size_t i = 0; i < batch->elements; ++i) {
        if (batch->element[i]->type == REDIS_REPLY_STRING) seen.emplace(batch->element[i]->str, batch->element[i]->len);
      }
      if (cursor == "0") break;
    }
    for (const auto& key : seen) {
      // SCAN's pattern returns group keys only; `<prefix>:group:` itself
      // lists as the empty name, as it always has.
      std::string name(c.keys.group_of(key).value_or(std::string_view{}));
      if (common::redis_shard(name, c.opts.redis.size()) != shard) {
        ++found.misplaced;
        continue;
      }
      auto r = redis.command({"ZCARD", key});
      if (!r) {
        ++found.not_groups;  // WRONGTYPE: someone else's key under our prefix
        continue;
      }
      // 0: the key expired or emptied since SCAN saw it; no such group now.
      if (r.value()->type == REDIS_REPLY_INTEGER && r.value()->integer > 0) {
        found.counts[std::move(name)] = r.value()->integer;
      }
    }
    return exit_code::ok;
  });
}

int cmd_groups(const ctx& c) {
  if (!c.opts.args.empty()) return wrong_args(c, "groups");
  group_listing found;
  for (std::size_t shard = 0; shard < c.opts.redis.size(); ++shard) {
    if (int rc = list_groups_on(c, shard, found); rc != exit_code::ok) return rc;
  }
  for (const auto& [name, n] : found.counts) c.out << name << " " << n << "\n";
  if (found.not_groups) {
    c.err << "switchboard-cli: note: skipped " << found.not_groups << " key(s) under " << c.keys.group("")
          << " that are not sorted sets\n";
  }
  if (found.misplaced) {
    c.err << "switchboard-cli: note: skipped " << found.misplaced
          << " group key(s) on a Redis host that channels_redis' hash does not pick for them"
             " (written with another --redis list?)\n";
  }
  return exit_code::ok;
}

int cmd_members(const ctx& c) {
  if (c.opts.args.size() != 1) return wrong_args(c, "members GROUP");
  const auto& group = c.opts.args[0];
  if (auto e = check_group(group); !e.empty()) return c.fail(exit_code::usage, e);
  return with_group_redis(c, group, [&](redis_client& redis) {
    const std::string key = c.keys.group(group);
    auto r = redis.command({"ZRANGE", key, "0", "-1"});
    if (!r) return c.fail(exit_code::failed, r.error_text());
    const redisReply* rep = r.value().get();
    if (rep->type != REDIS_REPLY_ARRAY) return c.fail(exit_code::failed, "unexpected ZRANGE reply from Redis");
    // Redis deletes an empty sorted set, so no members means no group.
    if (rep->elements == 0) {
      return c.fail(exit_code::failed, "no such group: " + group + " (no key " + key + " in Redis)");
    }
    for (std::size_t i = 0; i < rep->elements; ++i) {
      if (rep->element[i]->type == REDIS_REPLY_STRING) {
        c.out << std::string_view(rep->element[i]->str, rep->element[i]->len) << "\n";
      }
    }
    return exit_code::ok;
  });
}

// keygen PREFIX: a CURVE key pair for a layerd, a gateway or a client
// (docs/operations.md, "Securing layerd's port").
int cmd_keygen(const ctx& c) {
  if (c.opts.args.size() != 1 || c.opts.args[0].empty()) return wrong_args(c, "keygen OUTPUT_PREFIX");
  if (!common::curve_available()) return c.fail(exit_code::failed, common::curve_missing_text);
  auto pair = common::generate_keypair();
  if (!pair) return c.fail(exit_code::failed, pair.error_text());
  auto written = common::write_keypair(c.opts.args[0], pair.value());
  if (!written) return c.fail(exit_code::failed, written.error_text());
  c.out << written.value() << "\n";
  return exit_code::ok;
}

}  // namespace

int run_command(const options& opts, std::istream& in, std::ostream& out, std::ostream& err) {
  const ctx c{opts, common::channels_keys(opts.prefix), in, out, err};
  const std::string& cmd = opts.command;
  if (cmd == "group-send") return cmd_group_send(c);
  if (cmd == "send") return cmd_send(c);
  if (cmd == "group-add") return cmd_group_add(c);
  if (cmd == "group-discard") return cmd_group_discard(c);
  if (cmd == "groups") return cmd_groups(c);
  if (cmd == "members") return cmd_members(c);
  if (cmd == "presence") return cmd_presence(c);
  if (cmd == "keygen") return cmd_keygen(c);
  err << "switchboard-cli: unknown command \"" << cmd << "\"\n\n" << usage();
  return exit_code::usage;
}

}  // namespace sb::cli
