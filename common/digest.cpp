// digest.cpp — see digest.hpp.
#include "common/digest.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace sb::common {

namespace {
// OpenSSL 3 looks the algorithm up in its provider tables on every SHA1()
// call; fetched once here, a digest is only the hashing. The first fetch
// also loads the provider (about 2 MB of libcrypto's pages): prepare_digests()
// lets a daemon pay that at start, not in its first handshake.
const EVP_MD* sha1_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}
}  // namespace

void prepare_digests() { (void)sha1_md(); }

std::array<unsigned char, 20> sha1_digest(std::string_view data) {
  static_assert(SHA_DIGEST_LENGTH == 20);
  std::array<unsigned char, 20> digest{};
  unsigned int n = 0;
  const EVP_MD* md = sha1_md();
  if (md == nullptr || EVP_Digest(data.data(), data.size(), digest.data(), &n, md, nullptr) != 1) {
    // Without the default provider (a broken OpenSSL config): the one-shot
    // call, which cannot fail for an in-memory buffer.
    SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  }
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
