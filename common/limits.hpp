// limits.hpp — every hard bound Switchboard enforces, in one place.
//
// Bounds are what keep one bad client or one slow peer from hurting the
// rest (docs/architecture.md, rule 4). Defaults that users may change are
// command-line options; these constants are their defaults and the
// ceilings that no option may exceed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sb::common::limits {

// Protocol between gateway and layerd (proto/). A peer with another major
// version is refused.
inline constexpr std::uint32_t proto_major = 1;
inline constexpr std::uint32_t proto_minor = 6;  // 1.1: HELLO carries the peer role; 1.2: SYNC's moved groups, acked and numbered group_sends; 1.3: SEND's request; 1.4: SEND's flags; 1.5: a member's worker, GROUP_DELIVER's forwarded; 1.6: HELLO's sole, DELIVER's applied and serial, BATCH_DONE

// channels_redis refuses group and channel names of 100 characters or more.
inline constexpr std::size_t max_group_name = 99;
inline constexpr std::size_t max_channel_name = 99;
inline constexpr std::size_t max_room_code_points = 100;

// Gateway defaults (each one an option).
inline constexpr std::size_t default_max_message_size = 64 * 1024;
inline constexpr double default_rate_limit = 50.0;    // messages per second
inline constexpr double default_rate_burst = 100.0;   // bucket size
inline constexpr std::size_t default_send_queue_bytes = 1024 * 1024;
inline constexpr std::size_t default_send_queue_messages = 4096;
// A connection whose socket takes no bytes this long while frames wait is
// closed as a slow consumer; deliveries that do not fit its send queue are
// dropped and counted (docs/architecture.md, rule 4 and "Overload").
inline constexpr int default_slow_consumer_ms = 5000;
inline constexpr int default_heartbeat_ms = 1000;
inline constexpr int default_layerd_timeout_ms = 3000;
inline constexpr int default_join_timeout_ms = 5000;
// Django routes (docs/protocol.md, Part 3): a connect not answered by a
// worker within this is refused with 503; a worker silent this long is gone.
inline constexpr int default_connect_timeout_ms = 5000;
inline constexpr int default_worker_timeout_ms = 5000;
// A SEND to a worker (a connect, a socket message or batch) that layerd has
// not answered (ACK or ERROR) within this fails like a refused one: a
// layerd that answers heartbeats but never a SEND cannot hold a worker
// process' messages forever (docs/protocol.md, Part 3, Liveness).
inline constexpr int default_send_timeout_ms = 5000;
// group_sends a gateway keeps until a layerd acknowledges them (all links
// together); past either bound a send is refused with an error frame.
inline constexpr std::size_t default_unacked_max_messages = 100000;
inline constexpr std::size_t default_unacked_max_bytes = 64 * 1024 * 1024;
// A link whose connection ZeroMQ reports lost, and not back within this, is down.
inline constexpr int link_lost_grace_ms = 150;
// After a link goes down, the sends it had not acknowledged (and newer
// ones) wait this long before going to the new owners, so the other
// gateways, which notice a lost connection as fast, have SYNCed them first.
// A link that went down by timeout waits one --heartbeat-ms more (other
// gateways time out up to a heartbeat later).
inline constexpr int failover_grace_ms = 300;
// Duplicate deliveries are recognised per (origin gateway, group): at most
// this many pairs, each forgotten after this long without a delivery.
inline constexpr std::size_t dedup_max_keys = 100000;
inline constexpr int dedup_idle_s = 60;
// Keepalive: ping a connection silent this long; drop it if nothing comes
// back within the timeout (so dead TCP peers do not pile up).
inline constexpr int default_ping_interval_ms = 25000;
inline constexpr int default_ping_timeout_ms = 20000;

// Signed tokens (?token=, gateway/jwt_verifier.hpp): checked in this
// order before any costly work. A token over max_token_bytes, or whose
// header or claims JSON is over max_token_json_bytes, nested deeper than
// max_token_json_depth or holding more than max_token_json_items keys and
// array items, is refused unread. The leeway is --jwt-leeway-s's default
// and ceiling; a secret shorter than min_jwt_secret_bytes is refused at
// start-up (HS256 keys should be at least as long as the hash).
inline constexpr std::size_t max_token_bytes = 4096;
inline constexpr std::size_t max_token_json_bytes = 4096;
inline constexpr std::size_t max_token_json_depth = 4;
inline constexpr std::size_t max_token_json_items = 256;
inline constexpr std::size_t max_token_rooms = 100;
inline constexpr std::size_t max_token_room_bytes = 400;  // one rooms entry (a room is up to 100 code points)
inline constexpr std::size_t max_user_id_bytes = 128;     // the sub claim
inline constexpr std::size_t max_user_name_bytes = 200;   // the name claim
// A member's worker RENDER as a layerd receives it (proto::worker_route):
// 64 handlers of 16 fields, names of at most 100 bytes, fit well within it.
inline constexpr std::size_t max_render_bytes = 128 * 1024;
// A worker's switchboard.batch holds at most this many messages
// (docs/protocol.md, Part 3, Batches); DELIVER's applied indices are below it.
inline constexpr std::size_t max_batch_messages = 1000;
// BATCH_DONE names at most this many waiting sockets; a gateway with more
// sends none (layerd then applies none of its workers' group_sends).
inline constexpr std::size_t max_batch_done_waiting = 10000;
inline constexpr int default_jwt_leeway_s = 60;
inline constexpr int max_jwt_leeway_s = 3600;
inline constexpr std::size_t min_jwt_secret_bytes = 32;

// HTTP requests before the upgrade are small; anything bigger is refused.
inline constexpr std::size_t max_http_header_bytes = 16 * 1024;
inline constexpr std::size_t max_http_body_bytes = 16 * 1024;

// A single ZeroMQ body from a peer (a SYNC of a big gateway can be large).
inline constexpr std::size_t max_proto_body = 64 * 1024 * 1024;
// What one event (GROUP_SEND / SEND / DELIVER, an API or CLI event, a
// message in a Django inbox) may hold. Every door checks these before any
// other work (common/event.hpp, check_event), so one event costs a bounded,
// linear amount of work wherever it goes.
inline constexpr std::size_t max_event_bytes = 1024 * 1024;  // as msgpack; so also any one string in it
inline constexpr std::size_t max_event_depth = 32;           // nested maps and arrays, the event map included
inline constexpr std::size_t max_event_items = 65536;        // map entries plus array items, all levels together
inline constexpr std::size_t max_event_key_bytes = 1024;     // one map key

// layerd defaults.
inline constexpr int default_gateway_timeout_ms = 5000;
inline constexpr int default_group_expiry_s = 86400;
inline constexpr int default_refresh_interval_s = 3600;
// Removals remembered while Redis is away, applied when it returns.
inline constexpr std::size_t max_pending_redis_removals = 1'000'000;
// Sockets one group's presence counts (layerd/presence.hpp); more stay
// members but are not counted, with one warning per group.
inline constexpr std::size_t max_presence_sockets = 200'000;
// A room that a SYNC brought to this layerd (a failover, a restart) is
// rebuilt silently for this long, so every gateway's SYNC lands before
// joins are announced again: a layerd's silence is noticed within
// default_layerd_timeout_ms plus a heartbeat and the failover grace.
inline constexpr int presence_rebuild_quiet_ms = 5000;
// group_sends per group waiting for Redis before they reach Django's
// inboxes; when full the oldest is dropped (Redis is too slow).
inline constexpr std::size_t max_django_backlog = 10000;
// GET /api/groups lists at most this many groups, from at most this many
// SCAN rounds over all hosts: plenty for a tool, bounded for Redis.
inline constexpr std::size_t max_api_groups = 10000;
inline constexpr int max_api_scan_rounds = 1000;
// Seconds: with several Redis hosts, copies of one Django notify popped from
// different gateway inboxes up to this far apart count as one send (their
// scores differ: channels_redis takes a new `now` per host).
inline constexpr double pending_copy_window_s = 1.0;

// Room history (layerd/room_history.hpp, docs/protocol.md, History).
// One HISTORY answer replays at most this many messages, and at most
// max_history_bytes of events (a thousand events at the event bound would
// be a gigabyte): past either, the replay stops there and says incomplete.
inline constexpr std::uint32_t max_history_count = 1000;
inline constexpr std::size_t max_history_bytes = 8 * 1024 * 1024;
// A history id `<ms>-<seq>` (two decimal uint64s): at most this long.
inline constexpr std::size_t max_history_id_bytes = 41;
// A group's sends wait at most this long for its stream's last id (read
// once after start, SYNC or a Redis error), and at most this many queue
// per group; past either they go with ids from the clock alone.
inline constexpr int history_wait_ms = 1000;
inline constexpr std::size_t max_history_waiting = 10000;
// layerd: a history XADD waits at most this long in its Redis link's
// buffer for company (redis_commands::deferred); it is also how much longer
// than one loop turn a SIGKILLed layerd's last lines may go unkept.
inline constexpr int redis_defer_ms = 2;
// Gateway: a replay not answered within this is given up (recovery
// complete=false) and the socket's held live messages are sent.
inline constexpr int default_history_timeout_ms = 3000;
// Gateway: live messages held per socket while its replay is under way.
inline constexpr std::size_t max_history_held = 4096;

// Log lines an outsider can cause (a malformed frame, a refused handshake,
// a failed accept): at most one per site per this interval, with the count
// of those suppressed (common/log_limiter.hpp).
inline constexpr int log_interval_ms = 5000;

}  // namespace sb::common::limits
