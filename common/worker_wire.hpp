// worker_wire.hpp — the messages between the gateway and Django workers
// (docs/protocol.md, Part 3): encoding what the gateway sends, and the one
// reader of what workers send to a socket's channel (the gateway's door,
// and layerd for a sole gateway's batches: layerd/popped_sends.hpp).
//
// Everything is a channels_redis message: a msgpack map with a string
// "type". The gateway's messages are built here as msgpack bytes, once;
// an event forwarded to a worker is embedded as its own bytes, never
// re-encoded. decode() checks a worker's message (types, fields, sizes)
// and returns an error text instead of throwing (docs/architecture.md,
// rule 8); anything that is not a worker message (another type, not
// `websocket.*` or `switchboard.*`) is an event for the socket, which the
// consumer renders or forwards.
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/limits.hpp"
#include "common/result.hpp"
#include "common/render_spec.hpp"

namespace sb::common::worker_wire {

// ---- gateway → worker ----

// Carries "batch": true: this gateway takes switchboard.batch on its control channel.
std::string connect(std::string_view socket, std::string_view scope_msgpack);
std::string receive_text(std::string_view socket, std::string_view text);
std::string receive_bytes(std::string_view socket, std::string_view bytes);
std::string disconnect(std::string_view socket, int code);
std::string event(std::string_view socket, std::string_view event_msgpack);
// One event for several sockets of one worker: {"sockets": [S, ...]}.
std::string event_for(const std::vector<std::string>& sockets, std::size_t first, std::size_t count,
                      std::string_view event_msgpack);
// `sockets` omitted when there are more than max_alive_sockets.
std::string alive(std::string_view gateway, const std::vector<std::string>& sockets);
inline constexpr std::size_t max_alive_sockets = 50000;

// ---- worker → gateway ----

struct message {
  enum class kind {
    accept,         // websocket.accept
    send_text,      // websocket.send with "text"
    send_bytes,     // websocket.send with "bytes"
    close,          // websocket.close
    group_add,      // switchboard.group_add
    group_discard,  // switchboard.group_discard
    group_send,     // switchboard.group_send
    worker_alive,   // switchboard.worker_alive (to the control channel)
    event,          // not a worker message: an event for the socket (fast path or switchboard.event)
  };
  kind what = kind::event;
  std::string worker;    // W (all but event)
  std::uint64_t seq = 0;  // all but event and worker_alive
  std::string type;       // the event's type (event; group_send: its message's)
  // send_text/send_bytes: the payload; group_*: the group; accept: the subprotocol
  std::string data;
  bool has_subprotocol = false;                 // accept
  bool in_batch = false;                        // came in a switchboard.batch (it names its "socket")
  std::shared_ptr<const common::render_spec> render;    // accept: the empty spec without one; null when bad
  std::string render_problem;                   // accept: why RENDER was refused (the socket gets 403)
  bool has_user = false;                        // accept: switchboard.user was given
  std::string user_id;                          // accept: the consumer's scope["user"] (auth=django gates)
  std::string user_name;
  std::uint16_t code = 1000;                    // close
  bool code_replaced = false;                   // close: a code a server may not send became 1000
  std::string event_msgpack;                    // group_send: the message to send
  bool applied = false;  // not on the wire: a sole layerd applied this group_send (DELIVER's applied)
};

// Decodes the message `bytes` (one DELIVER's event). max_payload bounds a
// websocket.send (the gateway's frame limit). Errors name what is wrong.
common::result<message> decode(std::string_view bytes, std::size_t max_payload);

// A worker's switchboard.batch on the control channel (docs/protocol.md,
// Part 3, Batches): each entry is one of the socket messages above plus
// "socket": S, handed on as its own msgpack bytes to the socket's door.
inline constexpr std::size_t max_batch_messages = limits::max_batch_messages;
struct batch {
  struct entry {
    std::string socket;      // S
    std::string bytes;       // the entry, re-packed as its own message
    std::uint32_t index = 0;  // its place in the batch's "messages" (DELIVER's `applied` names these)
  };
  std::string worker;                 // W
  std::vector<entry> entries;         // in the batch's order
  std::vector<std::string> problems;  // one per entry dropped (not a map, no "socket")
};
// nullopt when `bytes` is not a switchboard.batch (decode() it instead);
// an error when it is one that is refused as a whole (not a list, over
// max_batch_messages, no valid "worker").
std::optional<common::result<batch>> decode_batch(std::string_view bytes);

// A sole gateway's batch as layerd reads it (layerd/popped_sends.hpp): the
// worker, and its switchboard.group_add, group_discard and group_send
// entries, each with its place in "messages", its socket and the message
// decode() makes of it. Other entries, and group entries decode() refuses
// (the gateway's door refuses them too), are skipped. nullopt when `bytes`
// is no switchboard.batch or one decode_batch() refuses whole.
struct group_op {
  std::uint32_t index = 0;
  std::string socket;  // S, as the entry names it (not checked here)
  message m;
};
struct group_ops {
  std::string worker;  // W, a process-local channel name
  std::vector<group_op> ops;
};
std::optional<group_ops> decode_group_ops(std::string_view bytes);

// Whether a server may send `code` in a close frame (RFC 6455 7.4).
bool server_may_send(int code);

}  // namespace sb::common::worker_wire
