// ws_codec.hpp — the client side of RFC 6455, just what a load generator needs.
//
// Why our own: a Beast websocket::stream costs kilobytes and a strand of
// handlers per connection, too heavy for 100,000 sockets in a few
// processes. Here a connection is a file descriptor plus a few bytes of
// state in the worker's table; these free functions build the upgrade
// request, check the 101 answer (Sec-WebSocket-Accept), write masked client
// frames into a caller's buffer and decode server frames in place (no copy:
// a server frame is never masked). Pure functions, no I/O, no allocation on
// the frame paths; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb::bench::ws {

inline constexpr std::uint8_t op_continuation = 0x0;
inline constexpr std::uint8_t op_text = 0x1;
inline constexpr std::uint8_t op_binary = 0x2;
inline constexpr std::uint8_t op_close = 0x8;
inline constexpr std::uint8_t op_ping = 0x9;
inline constexpr std::uint8_t op_pong = 0xA;

// Largest client frame header: 2 + 8 (64-bit length) + 4 (mask).
inline constexpr std::size_t max_client_header = 14;

// SHA-1 and base64, enough for the handshake.
std::string sha1(std::string_view data);  // 20 raw bytes
std::string base64(std::string_view data);

// A Sec-WebSocket-Key (base64 of 16 bytes) derived from a seed, so a
// connection need not store its key: it is recomputed to check the answer.
std::string key_from_seed(std::uint64_t seed);
std::string accept_for(std::string_view key);

std::string upgrade_request(std::string_view host_port, std::string_view path, std::string_view key);

struct upgrade_answer {
  enum class kind { incomplete, ok, bad_status, bad_accept, malformed };
  kind what = kind::incomplete;
  int status = 0;
  std::size_t header_bytes = 0;  // bytes of the HTTP head, frames may follow
};
// `data` is everything received so far on the connection.
upgrade_answer parse_upgrade_answer(std::string_view data, std::string_view expected_accept);

// Writes a masked frame (FIN set) into `out`, which must hold
// payload.size() + max_client_header bytes; returns the bytes written.
std::size_t encode_client_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask, char* out);

struct server_frame {
  bool fin = false;
  std::uint8_t opcode = 0;
  std::string_view payload;
};
enum class decode_status { ok, incomplete, protocol_error };
// Decodes one frame from the front of `in`; on ok, `consumed` is its size.
decode_status decode_server_frame(std::string_view in, std::size_t max_payload, server_frame& frame,
                                  std::size_t& consumed);

}  // namespace sb::bench::ws
