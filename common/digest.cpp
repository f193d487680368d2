// digest.cpp — see digest.hpp.
#include "common/digest.hpp"

#include <openssl/sha.h>

namespace sb::common {

std::array<unsigned char, 20> sha1_digest(std::string_view data) {
  static_assert(SHA_DIGEST_LENGTH == 20);
  std::array<unsigned char, 20> digest{};
  // SHA1() cannot fail for an in-memory buffer; it returns its last argument.
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

std::string sha1_hex(std::string_view data) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto digest = sha1_digest(data);
  std::string out;
  out.reserve(2 * digest.size());
  for (const unsigned char byte : digest) {
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 0x0F]);
  }
  return out;
}

}  // namespace sb::common
