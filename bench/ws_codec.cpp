// ws_codec.cpp — see ws_codec.hpp. SHA-1 is OpenSSL's (libcrypto); it
// only ever hashes a 60-byte handshake string.
#include "bench/ws_codec.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstring>

namespace sb::bench::ws {

namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string sha1(std::string_view data) {
  // Fetched once: OpenSSL 3's SHA1() looks the algorithm up on every call,
  // and the generator hashes a key per connection it opens.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  std::string out(SHA_DIGEST_LENGTH, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (md == nullptr || EVP_Digest(data.data(), data.size(), dst, nullptr, md, nullptr) != 1) {
    SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), dst);
  }
  return out;
}

std::string base64(std::string_view data) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(data[i + 2])};
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(data[i])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string key_from_seed(std::uint64_t seed) {
  std::uint64_t s = seed;
  char raw[16];
  const std::uint64_t a = splitmix(s), b = splitmix(s);
  std::memcpy(raw, &a, 8);
  std::memcpy(raw + 8, &b, 8);
  return base64(std::string_view(raw, 16));
}

std::string accept_for(std::string_view key) {
  std::string s(key);
  s += guid;
  return base64(sha1(s));
}

std::string upgrade_request(std::string_view host_port, std::string_view path, std::string_view key) {
  std::string r;
  r.reserve(200 + path.size());
  r += "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += host_port;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: switchboard-bench\r\n\r\n";
  return r;
}

upgrade_answer parse_upgrade_answer(std::string_view data, std::string_view expected_accept) {
  upgrade_answer a;
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return a;
  a.header_bytes = end + 4;
  std::string_view head = data.substr(0, end);
  const auto eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
    a.what = upgrade_answer::kind::malformed;
    return a;
  }
  const auto sp = status_line.find(' ');
  if (sp == std::string_view::npos || sp + 4 > status_line.size()) {
    a.what = upgrade_answer::kind::malformed;
    return a;
  }
  for (std::size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(status_line[i]))) {
      a.what = upgrade_answer::kind::malformed;
      return a;
    }
    a.status = a.status * 10 + (status_line[i] - '0');
  }
  if (a.status != 101) {
    a.what = upgrade_answer::kind::bad_status;
    return a;
  }
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!rest.empty()) {
    const auto nl = rest.find("\r\n");
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (iequals(trim(line.substr(0, colon)), "Sec-WebSocket-Accept")) {
      a.what = trim(line.substr(colon + 1)) == expected_accept ? upgrade_answer::kind::ok
                                                                 : upgrade_answer::kind::bad_accept;
      return a;
    }
  }
  a.what = upgrade_answer::kind::bad_accept;
  return a;
}

std::size_t encode_client_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask, char* out) {
  auto* o = reinterpret_cast<unsigned char*>(out);
  std::size_t n = 0;
  o[n++] = static_cast<unsigned char>(0x80 | (opcode & 0x0F));
  const std::uint64_t len = payload.size();
  if (len < 126) {
    o[n++] = static_cast<unsigned char>(0x80 | len);
  } else if (len <= 0xFFFF) {
    o[n++] = 0x80 | 126;
    o[n++] = static_cast<unsigned char>(len >> 8);
    o[n++] = static_cast<unsigned char>(len);
  } else {
    o[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) o[n++] = static_cast<unsigned char>(len >> (8 * i));
  }
  const unsigned char key[4] = {static_cast<unsigned char>(mask >> 24), static_cast<unsigned char>(mask >> 16),
                                static_cast<unsigned char>(mask >> 8), static_cast<unsigned char>(mask)};
  std::memcpy(o + n, key, 4);
  n += 4;
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data());
  for (std::size_t i = 0; i < len; ++i) o[n + i] = p[i] ^ key[i & 3];
  return n + len;
}

decode_status decode_server_frame(std::string_view in, std::size_t max_payload, server_frame& frame,
                                  std::size_t& consumed) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  if (in.size() < 2) return decode_status::incomplete;
  const bool fin = p[0] & 0x80;
  const std::uint8_t opcode = p[0] & 0x0F;
  if (p[0] & 0x70) return decode_status::protocol_error;  // no extensions negotiated
  if (p[1] & 0x80) return decode_status::protocol_error;  // a server never masks
  std::uint64_t len = p[1] & 0x7F;
  std::size_t head = 2;
  if (len == 126) {
    if (in.size() < 4) return decode_status::incomplete;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    head = 4;
  } else if (len == 127) {
    if (in.size() < 10) return decode_status::incomplete;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    head = 10;
    if (len >> 63) return decode_status::protocol_error;
  }
  if (opcode >= 0x8 && (len > 125 || !fin)) return decode_status::protocol_error;  // control frames
  if (len > max_payload) return decode_status::protocol_error;
  if (in.size() - head < len) return decode_status::incomplete;
  frame.fin = fin;
  frame.opcode = opcode;
  frame.payload = in.substr(head, static_cast<std::size_t>(len));
  consumed = head + static_cast<std::size_t>(len);
  return decode_status::ok;
}

}  // namespace sb::bench::ws
