// allow_list.hpp — the CURVE public keys layerd lets in, each bound to a
// role and, for a gateway, to its --id (docs/operations.md, "Securing
// layerd's port").
//
// One entry per line; a field that starts with `#` starts a comment (`#`
// is a Z85 digit, but no key starts with it):
//   <Z85 public key> gateway <id>      a gateway started with --id <id>
//   <Z85 public key> client [<name>]   switchboard-cli or a publishing backend
// A key bound to `gateway <id>` may only use the routing ids (and so HELLO
// ids) `<id>.<16 hex digits>`, the form of a gateway's run id; a client key
// only `cli.<16 hex digits>`, switchboard-cli's form, so no client can
// take a gateway's id (docs/architecture.md, rule 12). Any malformed line
// makes the whole file an error naming the line: an allow-list that half
// loaded would lock out peers the operator meant to let in.
//
// Immutable after parse(); any thread may read it (the ZAP thread and
// layerd's loop share one).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.hpp"

namespace sb::layerd {

struct allowed_peer {
  enum class role { gateway, client };
  role what = role::client;
  std::string name;  // the gateway's --id; a client's label (may be empty)

  // Whether this peer may use `routing_id` on layerd's socket.
  bool may_use(std::string_view routing_id) const;
  // "gateway gw1" / "client deploy-bot", for logs.
  std::string describe() const;
};

class allow_list {
 public:
  // Bounds on the operator's file, so a wrong path (a log, a dump) fails
  // fast instead of being read whole.
  static constexpr std::size_t max_bytes = 4u << 20;
  static constexpr std::size_t max_entries = 100000;

  static common::result<allow_list> parse(std::string_view text, const std::string& what = "allow-list");
  static common::result<allow_list> load(const std::string& path);

  // The entry of a Z85 public key, or nullptr.
  const allowed_peer* find(std::string_view z85_key) const;
  std::size_t size() const { return by_key_.size(); }

 private:
  std::unordered_map<std::string, allowed_peer> by_key_;
};

}  // namespace sb::layerd
