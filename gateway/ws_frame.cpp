// ws_frame.cpp — see ws_frame.hpp.
#include "gateway/ws_frame.hpp"

namespace sb::gateway::ws {

std::string make_frame(opcode op, std::string_view payload) {
  std::string out;
  const std::size_t n = payload.size();
  out.reserve(n + 10);
  out.push_back(static_cast<char>(0x80 | op));
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((std::uint64_t{n} >> shift) & 0xFF));
  }
  out.append(payload);
  return out;
}

std::shared_ptr<const std::string> make_shared_text(std::string_view payload) {
  return std::make_shared<const std::string>(make_frame(op_text, payload));
}

std::string make_close_frame(std::uint16_t code, std::string_view reason) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xFF));
  body.append(reason.substr(0, 123));
  return make_frame(op_close, body);
}

bool is_valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010: case 1011:
      return true;
    default:
      return false;
  }
}

bool utf8_validator::feed(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    if (need_ == 0) {
      // Fast path over ASCII, eight bytes at a time.
      while (i + 8 <= n) {
        std::uint64_t w;
        __builtin_memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) break;
        i += 8;
      }
      if (i >= n) break;
      const unsigned char b = p[i++];
      if (b < 0x80) continue;
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1; lo_ = 0x80; hi_ = 0xBF;
      } else if (b == 0xE0) {
        need_ = 2; lo_ = 0xA0; hi_ = 0xBF;
      } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        need_ = 2; lo_ = 0x80; hi_ = 0xBF;
      } else if (b == 0xED) {
        need_ = 2; lo_ = 0x80; hi_ = 0x9F;  // no surrogates
      } else if (b == 0xF0) {
        need_ = 3; lo_ = 0x90; hi_ = 0xBF;  // no overlongs
      } else if (b >= 0xF1 && b <= 0xF3) {
        need_ = 3; lo_ = 0x80; hi_ = 0xBF;
      } else if (b == 0xF4) {
        need_ = 3; lo_ = 0x80; hi_ = 0x8F;  // ≤ U+10FFFF
      } else {
        return false;
      }
    } else {
      const unsigned char b = p[i++];
      if (b < lo_ || b > hi_) return false;
      --need_;
      lo_ = 0x80;
      hi_ = 0xBF;
    }
  }
  return true;
}

event reader::fail(std::uint16_t code, const char* why) {
  failed_ = true;
  return event{event::error, {}, code, why};
}

int reader::parse_header(const unsigned char* p, std::size_t n, header& h) {
  if (n < 2) return 0;
  const unsigned char b0 = p[0], b1 = p[1];
  h.fin = (b0 & 0x80) != 0;
  h.op = b0 & 0x0F;
  if (b0 & 0x70) {
    fail_code_ = close_protocol_error;
    why_ = "reserved bits set";
    return -1;
  }
  if ((h.op > op_binary && h.op < op_close) || h.op > op_pong) {
    fail_code_ = close_protocol_error;
    why_ = "reserved opcode";
    return -1;
  }
  if (!(b1 & 0x80)) {
    fail_code_ = close_protocol_error;
    why_ = "client frame not masked";
    return -1;
  }
  std::uint64_t len = b1 & 0x7F;
  std::size_t size = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    size = 4;
    if (len < 126) {
      fail_code_ = close_protocol_error;
      why_ = "length not minimally encoded";
      return -1;
    }
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    size = 10;
    if (len >> 63) {
      fail_code_ = close_protocol_error;
      why_ = "length has the top bit set";
      return -1;
    }
    if (len <= 0xFFFF) {
      fail_code_ = close_protocol_error;
      why_ = "length not minimally encoded";
      return -1;
    }
  }
  if (h.op >= op_close) {
    if (!h.fin) {
      fail_code_ = close_protocol_error;
      why_ = "fragmented control frame";
      return -1;
    }
    if (len > 125) {
      fail_code_ = close_protocol_error;
      why_ = "control frame over 125 bytes";
      return -1;
    }
  } else if (len + (h.op == op_continuation && in_message_ ? message_.size() : 0) > max_message_) {
    // Refuse before the payload arrives (counting what a fragmented
    // message already holds), so a huge length costs nothing.
    fail_code_ = close_too_big;
    why_ = "message too big";
    return -1;
  }
  if (n < size + 4) return 0;
  for (int i = 0; i < 4; ++i) h.mask[i] = p[size + i];
  h.size = size + 4;
  h.len = len;
  return 1;
}

}  // namespace sb::gateway::ws
