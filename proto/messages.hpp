// messages.hpp — the gateway ⇄ layerd messages (ZeroMQ multipart).
//
// Wire form: frame 1 is one byte, the kind; frame 2 is the msgpack body,
// an array whose fields are in the order of the struct members below.
// Decoders accept extra trailing fields so a minor version may add some;
// a different major version is refused at HELLO. Events travel as msgpack
// `bin` holding the event map's own bytes, so they pass layerd untouched.
//
// No I/O here; plain values, safe to move between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sb::proto {

enum class kind : std::uint8_t {
  hello = 1,          // gateway or client → layerd: [major, minor, gateway_id, role, sole] (role since 1.1, sole since 1.6)
  welcome = 2,        // layerd → gateway: [major, minor, layerd_id]
  group_add = 3,      // gateway → layerd: [request, group, channel, user, worker] (user since 1.4, worker since 1.5; optional); answered by ACK
  group_discard = 4,  // gateway → layerd: [group, channel]
  group_send = 5,     // gateway → layerd: [group, event, seq, id] (seq, id since 1.2; 0 or absent: no SEND_ACK)
  send = 6,           // gateway → layerd: [channel, event, request, flags] (request since 1.3, flags since 1.4; 0 or absent: no ACK, no flag)
  heartbeat = 7,      // both ways: []
  deliver = 8,        // layerd → gateway: [[conn_id...], event, applied, serial] (applied, serial since 1.6; optional)
  error = 9,          // layerd → gateway: [request, code, text]
  ack = 10,           // layerd → gateway: [request]
  sync = 11,          // gateway → layerd: [[group, [channel...], moved?, [user|nil...]?, [worker|nil...]?]...] — all of the sender's members in groups this layerd owns (users since 1.4, workers since 1.5)
  group_deliver = 12, // layerd → gateway: [group, event, origin, id, forwarded] — to every member of the group on that gateway (forwarded since 1.5)
  send_ack = 13,      // layerd → gateway: [seq] — every GROUP_SEND up to seq on this link is fanned out (1.2)
  history_get = 14,   // gateway → layerd: [request, group, count, since] (1.4) — a room's recent messages
  history = 15,       // layerd → gateway: [request, complete, [event...]] (1.4) — the answer, oldest first
  presence_get = 16,   // gateway or client → layerd (the group's owner): [request, group] (1.4)
  presence_state = 17, // layerd → peer: [request, count, [[id, name, guest]...], truncated] (1.4)
  batch_done = 18,     // gateway → layerd: [serial, [conn_id...]] (1.6) — every DELIVER up to serial is applied; those conns wait for a seq
};

// Who says HELLO: a gateway (has sockets, an inbox, members; is expired
// when silent) or a client (switchboard-cli, a backend: only publishes).
// Absent in 1.0 peers' HELLO, which are gateways.
enum class peer_role : std::uint8_t { gateway = 0, client = 1 };

struct hello {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::string gateway_id;  // the peer's routing id, whatever its role
  peer_role role = peer_role::gateway;
  // Since 1.6: this gateway talks to this one layerd only (it was given one
  // endpoint), so that layerd owns every group it uses and is the only one
  // that drains its inbox: it may apply the gateway's workers' group_sends
  // where it pops them (layerd/popped_sends.hpp).
  bool sole = false;
};
struct welcome {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::string layerd_id;
};
// Who a socket is, for presence (1.4): the gateway's identity of the
// handshake (a token's sub and name, a guest, a Django gate's user), never
// anything the browser said; watch = the socket asked for presence frames
// (?presence=1). On the wire [id, name, guest, watch]; id and name are
// bounded as the identity's (common/limits.hpp), id never empty.
struct presence_user {
  std::string id;
  std::string name;
  bool guest = true;
  bool watch = false;
  bool operator==(const presence_user&) const = default;
};
// The Django worker process that runs a socket's consumer (1.5,
// docs/protocol.md, Part 3): its process channel W and its RENDER (the
// msgpack map the accept carried; empty: none). With it the group's owner
// writes each event the gateway does not render for the socket to W
// itself, and says so in the GROUP_DELIVER (forwarded). On the wire
// [worker, render] with render as bin; worker is a valid process-local
// channel name and render at most limits::max_render_bytes.
struct worker_route {
  std::string worker;
  std::string render;
  bool operator==(const worker_route&) const = default;
};
struct group_add {
  std::uint64_t request = 0;
  std::string group;
  std::string channel;
  std::optional<presence_user> user{};  // since 1.4; absent: not counted in presence
  // Since 1.5, only to a layerd of 1.5 or later: the socket's worker
  // (travels as the fifth field, the user then nil when there is none).
  std::optional<worker_route> worker{};
};
struct group_discard {
  std::string group;
  std::string channel;
};
struct group_send {
  std::string group;
  std::string event;  // msgpack map bytes
  // Since 1.2, from a gateway: seq numbers the sends on this link (layerd
  // answers with a cumulative SEND_ACK); id numbers the sender's sends for
  // the whole run, the same when a send is re-sent to another layerd, so
  // receivers can drop a duplicate. 0: no ack wanted / not de-duplicated.
  std::uint64_t seq = 0;
  std::uint64_t id = 0;
};
struct send {
  std::string channel;
  std::string event;
  // Since 1.3: non-zero asks layerd for ACK [request] when the message is
  // written or delivered, ERROR [request, code, text] when it is refused
  // (docs/protocol.md, Part 3, Liveness). 0: no ACK, ERRORs carry 0.
  std::uint64_t request = 0;
  // Since 1.4: send_flag bits; unknown bits are ignored, so a later minor
  // may add some. 0 travels as no field.
  std::uint32_t flags = 0;
};
// SEND flags (1.4).
enum send_flag : std::uint32_t {
  // A plain channel (no '!') is written on every Redis host that is up,
  // not on the next one in turn: a connect to a django: route reaches a
  // worker whichever host its receive waits on (docs/protocol.md, Part 3,
  // Several Redis hosts).
  send_every_host = 1,
};
struct heartbeat {};
struct deliver {
  std::vector<std::string> targets;  // conn ids (the part after '!')
  std::string event;
  // Since 1.6, only to a sole gateway, for a switchboard.batch to its
  // control channel: the entries (their places in "messages") whose
  // group_send layerd applied itself, and, when not 0, the number of this
  // DELIVER, which the gateway answers with BATCH_DONE once it applied it.
  std::vector<std::uint32_t> applied{};
  std::uint64_t serial = 0;
};
struct error {
  std::uint64_t request = 0;  // 0 when not about a request
  std::string code;           // "version", "unknown_gateway", "bad_message", "bad_name", "no_route"
  std::string text;
};
struct ack {
  std::uint64_t request = 0;
};
struct sync {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  // Since 1.2: groups this layerd owned and no longer does (the ring
  // changed). Each travels as an entry [group, [], 1]; the layerd forgets
  // the sender's members of it in memory only, because the new owner now
  // writes them to Redis (docs/protocol.md, SYNC). A 1.1 layerd reads the
  // entry as a group with no members.
  std::vector<std::string> moved{};
  // Since 1.4: per entry of `groups` (same index), each channel's user in
  // the order of its channels (nullopt: a socket without one). Empty, or
  // shorter than `groups`: those entries carry no users. Travels as the
  // entry's fourth field (the third, moved, is then 0).
  std::vector<std::vector<std::optional<presence_user>>> users{};
  // Since 1.5: per entry of `groups`, each channel's worker (nullopt: none),
  // as `users`; travels as the entry's fifth field (users then present,
  // nil for each channel without one). Only to a layerd of 1.5 or later.
  std::vector<std::vector<std::optional<worker_route>>> workers{};
};
// A group_send fanned out to one gateway: the gateway knows its own members
// of the group, so layerd's work per send is O(gateways), not O(members).
struct group_deliver {
  std::string group;
  std::string event;
  // Since 1.2: the sending gateway's run id and its id for the send (both
  // empty/0 for a send that carried no id: a client, the HTTP API, Django).
  std::string origin{};
  std::uint64_t id = 0;
  // Since 1.5: this gateway's conn ids whose event layerd wrote to their
  // worker itself (worker_route): the gateway neither renders nor forwards
  // the event for them. Travels as the fifth field (origin "" and id 0
  // when the send had none).
  std::vector<std::string> forwarded{};
};
// Cumulative: every GROUP_SEND on this link with a seq up to `seq` has been
// handed to ZeroMQ for its fan-out (or refused with an ERROR).
struct send_ack {
  std::uint64_t seq = 0;
};
// Since 1.6, to the layerd that sent a DELIVER with a serial: every such
// DELIVER up to `serial` has been applied, and what applying it sent this
// layerd (GROUP_ADD, GROUP_DISCARD, GROUP_SEND) is ahead of this on the
// link; `waiting` are the sockets with worker messages waiting for an
// earlier seq (at most limits::max_batch_done_waiting).
struct batch_done {
  std::uint64_t serial = 0;
  std::vector<std::string> waiting{};
};

// Since 1.4: a room's recent messages from its history stream (the group's
// owner answers; docs/protocol.md, History). since non-empty: every message
// after that id (at most count); else the last `count`. count is at most
// limits::max_history_count; a since that is no `<ms>-<seq>` id is refused.
struct history_get {
  std::uint64_t request = 0;
  std::string group;
  std::uint32_t count = 0;
  std::string since{};
};
// The answer: the stored events (msgpack maps with their "id"), oldest
// first. complete=false: since's successor is no longer in the stream (or
// history is off for the group, or the reply was cut at a bound).
struct history {
  std::uint64_t request = 0;
  bool complete = false;
  std::vector<std::string> events{};
};

// Who is in a group (1.4), asked of its owner by a gateway's HTTP API or
// switchboard-cli; answered by PRESENCE_STATE with the same request.
struct presence_get {
  std::uint64_t request = 0;
  std::string group;
};
// count = distinct users; users (watch false) at most the owner's
// --presence-list-max, truncated = there were more.
struct presence_state {
  std::uint64_t request = 0;
  std::uint64_t count = 0;
  std::vector<presence_user> users;
  bool truncated = false;
};

using message = std::variant<hello, welcome, group_add, group_discard, group_send, send, heartbeat, deliver,
                             error, ack, sync, group_deliver, send_ack, history_get, history, presence_get,
                             presence_state, batch_done>;

kind kind_of(const message& m);
const char* kind_name(std::uint8_t k);

}  // namespace sb::proto
