// join_query.hpp — what a chat socket's URL asks of its room's history:
// `?history=K` (replay the last K messages) or `?since=<id>` (replay what
// followed the last message this client saw) (docs/protocol.md, History).
//
// Read at the handshake, before anything is joined, so a bad value costs a
// 400 and nothing else: a parameter given twice, a K that is not a decimal
// number, a since that is not a `<ms>-<seq>` id (common/stream_id.hpp).
// K is clamped to limits::max_history_count; since wins over history when
// both are given. Other parameters (token, presence...) are not ours and
// are left alone. Linear in the query's length, which the HTTP parser
// bounds already.
//
// Threading: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::gateway {

// Why a query was refused: the metric label of each.
enum class join_query_refusal : std::uint8_t { history_repeated, history_malformed, since_repeated, since_malformed };
inline constexpr std::size_t join_query_refusal_count = 4;
std::string_view join_query_refusal_name(join_query_refusal r);

struct join_query {
  // What to replay: nothing (no history, no since), the last `count`, or
  // (since non-empty) what followed `since`, at most `count`.
  std::uint32_t count = 0;
  std::string since;
  bool replay() const { return count > 0 || !since.empty(); }

  std::optional<join_query_refusal> refusal;  // set: answer 400
  std::string detail;                         // one line for the body and the log
};

// The query part of a request target (after '?', or the whole target: the
// part after its first '?' is read).
join_query parse_join_query(std::string_view target);

}  // namespace sb::gateway
