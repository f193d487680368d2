// ws_frame.hpp — the WebSocket frame layer (RFC 6455, server side), without I/O.
//
// The gateway owns this layer instead of Beast's websocket::stream because
// fan-out speed is decided by deliveries per syscall and idle memory by
// bytes per socket: a frame built here once is shared by every socket's
// queue, and the reader keeps no buffer of its own between messages (it
// parses in place in the caller's buffer and only remembers a message
// while it is fragmented).
//
// The reader enforces the RFC: masked client frames, no reserved bits or
// opcodes, minimal length encodings, control frames ≤ 125 bytes and never
// fragmented, continuation only inside a message, UTF-8 validated across
// fragment boundaries, valid close codes and reasons, a message size
// limit. Each violation maps to the close code the RFC names.
//
// Threading: plain objects; a reader belongs to one session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sb::gateway::ws {

enum opcode : std::uint8_t {
  op_continuation = 0x0,
  op_text = 0x1,
  op_binary = 0x2,
  op_close = 0x8,
  op_ping = 0x9,
  op_pong = 0xA,
};

// Close codes used by the gateway.
inline constexpr std::uint16_t close_normal = 1000;
inline constexpr std::uint16_t close_going_away = 1001;
inline constexpr std::uint16_t close_protocol_error = 1002;
inline constexpr std::uint16_t close_unsupported_data = 1003;
inline constexpr std::uint16_t close_no_status = 1005;  // never sent
inline constexpr std::uint16_t close_invalid_payload = 1007;
inline constexpr std::uint16_t close_policy = 1008;
inline constexpr std::uint16_t close_too_big = 1009;
inline constexpr std::uint16_t close_internal_error = 1011;

// A complete unmasked server frame (header + payload) — built once, shared.
std::string make_frame(opcode op, std::string_view payload);
std::shared_ptr<const std::string> make_shared_text(std::string_view payload);
std::string make_close_frame(std::uint16_t code, std::string_view reason);

// True for codes a peer may put in a close frame (RFC 6455 7.4).
bool is_valid_close_code(std::uint16_t code);

// Streaming UTF-8 validation (rejects overlongs, surrogates, > U+10FFFF).
class utf8_validator {
 public:
  bool feed(const unsigned char* p, std::size_t n);
  bool complete() const { return need_ == 0; }
  void reset() { need_ = 0; lo_ = 0x80; hi_ = 0xBF; }

 private:
  std::uint8_t need_ = 0;
  std::uint8_t lo_ = 0x80;
  std::uint8_t hi_ = 0xBF;
};

struct event {
  enum kind_t { text, binary, ping, pong, close, error } kind;
  std::string_view payload;        // text/binary message, ping/pong data, close reason
  std::uint16_t code = 0;          // close: the peer's code (1005 if none); error: the code to close with
  const char* why = "";            // error: a short reason for logs and the close frame
};

class reader {
 public:
  explicit reader(std::size_t max_message) : max_message_(max_message) {}

  // Parses complete frames from data[0..n) (unmasking in place) and calls
  // on_event for each message or control frame. Returns the bytes used;
  // the rest is an incomplete frame the caller keeps and offers again with
  // more bytes. After an error event nothing more is parsed.
  template <class F>
  std::size_t consume(unsigned char* data, std::size_t n, F&& on_event);

  bool failed() const { return failed_; }
  // Bytes this reader holds while a message is fragmented (0 when idle).
  std::size_t held() const {
    return message_.capacity() > std::string().capacity() ? message_.capacity() : 0;  // heap bytes, not SSO
  }

 private:
  struct header {
    bool fin;
    std::uint8_t op;
    std::uint64_t len;
    std::size_t size;  // header bytes
    unsigned char mask[4];
  };
  // 0: need more bytes; >0: header parsed; <0: protocol error (why_ set).
  int parse_header(const unsigned char* p, std::size_t n, header& h);
  event fail(std::uint16_t code, const char* why);

  std::size_t max_message_;
  std::string message_;  // the fragmented message so far
  bool in_message_ = false;
  std::uint8_t message_op_ = 0;
  utf8_validator utf8_;
  bool failed_ = false;
  std::uint16_t fail_code_ = 0;
  const char* why_ = "";
};

// ---- implementation of the template ----

template <class F>
std::size_t reader::consume(unsigned char* data, std::size_t n, F&& on_event) {
  std::size_t used = 0;
  while (!failed_ && used < n) {
    header h{};
    const int r = parse_header(data + used, n - used, h);
    if (r == 0) break;
    if (r < 0) {
      on_event(fail(fail_code_, why_));
      break;
    }
    if (n - used - h.size < h.len) break;  // payload not here yet
    unsigned char* payload = data + used + h.size;
    const std::size_t len = static_cast<std::size_t>(h.len);
    for (std::size_t i = 0; i < len; ++i) payload[i] ^= h.mask[i & 3];
    used += h.size + len;
    const std::string_view body(reinterpret_cast<const char*>(payload), len);

    if (h.op >= op_close) {  // control frame (length and fin checked in parse_header)
      if (h.op == op_ping) {
        on_event(event{event::ping, body});
      } else if (h.op == op_pong) {
        on_event(event{event::pong, body});
      } else {
        if (len == 1) {
          on_event(fail(close_protocol_error, "close frame with a 1-byte payload"));
          break;
        }
        std::uint16_t code = close_no_status;
        std::string_view reason;
        if (len >= 2) {
          code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
          reason = body.substr(2);
          if (!is_valid_close_code(code)) {
            on_event(fail(close_protocol_error, "invalid close code"));
            break;
          }
          utf8_validator v;
          if (!v.feed(payload + 2, len - 2) || !v.complete()) {
            on_event(fail(close_invalid_payload, "close reason is not UTF-8"));
            break;
          }
        }
        failed_ = true;  // nothing is read after a close
        on_event(event{event::close, reason, code});
        break;
      }
      continue;
    }

    // Data frames.
    if (h.op == op_continuation) {
      if (!in_message_) {
        on_event(fail(close_protocol_error, "continuation frame without a message"));
        break;
      }
    } else {
      if (in_message_) {
        on_event(fail(close_protocol_error, "new message inside a fragmented message"));
        break;
      }
      message_op_ = h.op;
      utf8_.reset();
    }
    const std::size_t total = (in_message_ ? message_.size() : 0) + len;
    if (total > max_message_) {
      on_event(fail(close_too_big, "message too big"));
      break;
    }
    if (message_op_ == op_text && (!utf8_.feed(payload, len) || (h.fin && !utf8_.complete()))) {
      on_event(fail(close_invalid_payload, "text is not valid UTF-8"));
      break;
    }
    const auto kind = message_op_ == op_text ? event::text : event::binary;
    if (h.fin && !in_message_) {
      on_event(event{kind, body});  // the common case: no copy at all
    } else {
      message_.append(body);
      in_message_ = true;
      if (h.fin) {
        in_message_ = false;
        on_event(event{kind, message_});
        std::string().swap(message_);  // give the memory back while idle
      }
    }
  }
  return used;
}

}  // namespace sb::gateway::ws
