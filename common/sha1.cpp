// SHA-1 per FIPS 180-4 section 6.1: pad to a multiple of 64 bytes with 0x80, zeros and the
// 64-bit big-endian bit length, then run the 80-round compression over each block.
// Shaped as one-shot functions (no streaming context) because callers hash short names
// held fully in memory. No shared state: safe from any thread.
#include "common/sha1.hpp"

#include <cstddef>
#include <cstdint>

namespace sb::common {
namespace {

constexpr std::uint32_t rotl(std::uint32_t x, unsigned n) { return (x << n) | (x >> (32U - n)); }

// Compresses one 64-byte block into the running state `h`.
void compress(std::array<std::uint32_t, 5>& h, const unsigned char* block) {
    std::array<std::uint32_t, 80> w{};
    for (std::size_t t = 0; t < 16; ++t) {
        w[t] = (std::uint32_t{block[4 * t]} << 24) | (std::uint32_t{block[4 * t + 1]} << 16) |
               (std::uint32_t{block[4 * t + 2]} << 8) | std::uint32_t{block[4 * t + 3]};
    }
    for (std::size_t t = 16; t < 80; ++t) {
        w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    }

    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (std::size_t t = 0; t < 80; ++t) {
        std::uint32_t f = 0;
        std::uint32_t k = 0;
        if (t < 20) {
            f = (b & c) | (~b & d);  // Ch
            k = 0x5A827999U;
        } else if (t < 40) {
            f = b ^ c ^ d;  // Parity
            k = 0x6ED9EBA1U;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);  // Maj
            k = 0x8F1BBCDCU;
        } else {
            f = b ^ c ^ d;  // Parity
            k = 0xCA62C1D6U;
        }
        const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

}  // namespace

std::array<unsigned char, 20> sha1(std::string_view data) {
    std::array<std::uint32_t, 5> h{0x67452301U, 0xEFCDAB89U, 0x98BADCFEU, 0x10325476U, 0xC3D2E1F0U};

    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t full_blocks = data.size() / 64;
    for (std::size_t i = 0; i < full_blocks; ++i) compress(h, bytes + 64 * i);

    // The tail: leftover bytes, 0x80, zero fill, then the message length in bits (big-endian).
    // One block if the leftover plus 9 bytes fits in 64, otherwise two.
    std::array<unsigned char, 128> tail{};
    const std::size_t rest = data.size() - 64 * full_blocks;
    for (std::size_t i = 0; i < rest; ++i) tail[i] = bytes[64 * full_blocks + i];
    tail[rest] = 0x80;
    const std::size_t tail_len = (rest + 9 <= 64) ? 64 : 128;
    const std::uint64_t bit_len = static_cast<std::uint64_t>(data.size()) * 8U;
    for (std::size_t i = 0; i < 8; ++i) {
        tail[tail_len - 1 - i] = static_cast<unsigned char>(bit_len >> (8 * i));
    }
    compress(h, tail.data());
    if (tail_len == 128) compress(h, tail.data() + 64);

    std::array<unsigned char, 20> digest{};
    for (std::size_t i = 0; i < 5; ++i) {
        digest[4 * i] = static_cast<unsigned char>(h[i] >> 24);
        digest[4 * i + 1] = static_cast<unsigned char>(h[i] >> 16);
        digest[4 * i + 2] = static_cast<unsigned char>(h[i] >> 8);
        digest[4 * i + 3] = static_cast<unsigned char>(h[i]);
    }
    return digest;
}

std::string sha1_hex(std::string_view data) {
    static constexpr char k_hex[] = "0123456789abcdef";
    const auto digest = sha1(data);
    std::string out;
    out.reserve(2 * digest.size());
    for (const unsigned char byte : digest) {
        out.push_back(k_hex[byte >> 4]);
        out.push_back(k_hex[byte & 0x0FU]);
    }
    return out;
}

}  // namespace sb::common
