// fernet.hpp — channels_redis' optional message encryption (Fernet).
//
// With symmetric_encryption_keys set, channels_redis stores each message
// body as a Fernet token (base64url, '=' padded) instead of plain msgpack:
// key K = SHA-256(secret); HMAC-SHA256 with K[0:16] over
// 0x80 | timestamp(8, BE) | IV(16) | AES-128-CBC-PKCS7(K[16:32], body).
// It encrypts with the first key and accepts any (key rotation), and it
// refuses tokens older than expiry + 10 s or more than 60 s in the future.
// OpenSSL does the primitives. Pure functions; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sb::layerd::fernet {

struct key {
  std::array<unsigned char, 16> signing;
  std::array<unsigned char, 16> encryption;
};

// channels_redis' derivation: SHA-256 of the secret's UTF-8 bytes.
key derive(std::string_view secret);

// A token for `plain` at unix time `ts` with the given IV (random in use).
std::string encrypt(const key& k, std::string_view plain, std::uint64_t ts, const std::array<unsigned char, 16>& iv);
std::string encrypt(const key& k, std::string_view plain);  // now, random IV

// Tries each key in order; checks the HMAC and the age (`ttl` seconds,
// and not more than 60 s ahead of `now`).
common::result<std::string> decrypt(const std::vector<key>& keys, std::string_view token, std::uint64_t now,
                                    std::uint64_t ttl);

}  // namespace sb::layerd::fernet
