// fernet.cpp — see fernet.hpp.
#include "layerd/fernet.hpp"

#include "common/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <chrono>
#include <memory>

namespace sb::layerd::fernet {
namespace {

std::string b64url_encode(const std::string& in) { return common::base64_encode(in, common::base64_alphabet::url); }

bool b64url_decode(std::string_view in, std::string& out) {
  return common::base64_decode(in, out, common::base64_alphabet::url);
}

std::array<unsigned char, 32> hmac(const key& k, std::string_view data) {
  std::array<unsigned char, 32> mac{};
  unsigned len = 0;
  HMAC(EVP_sha256(), k.signing.data(), static_cast<int>(k.signing.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  return mac;
}

struct ctx_free {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// AES-128-CBC with PKCS7 padding; false on a padding or cipher error.
bool aes(bool enc, const key& k, const unsigned char* iv, std::string_view in, std::string& out) {
  std::unique_ptr<EVP_CIPHER_CTX, ctx_free> c(EVP_CIPHER_CTX_new());
  if (!c || EVP_CipherInit_ex(c.get(), EVP_aes_128_cbc(), nullptr, k.encryption.data(), iv, enc ? 1 : 0) != 1) {
    return false;
  }
  out.resize(in.size() + 16);
  int n1 = 0, n2 = 0;
  if (EVP_CipherUpdate(c.get(), reinterpret_cast<unsigned char*>(out.data()), &n1,
                       reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size())) != 1) {
    return false;
  }
  if (EVP_CipherFinal_ex(c.get(), reinterpret_cast<unsigned char*>(out.data()) + n1, &n2) != 1) return false;
  out.resize(static_cast<std::size_t>(n1 + n2));
  return true;
}

}  // namespace

key derive(std::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  key k{};
  std::copy(digest, digest + 16, k.signing.begin());
  std::copy(digest + 16, digest + 32, k.encryption.begin());
  return k;
}

std::string encrypt(const key& k, std::string_view plain, std::uint64_t ts, const std::array<unsigned char, 16>& iv) {
  std::string token(1, static_cast<char>(0x80));
  for (int s = 56; s >= 0; s -= 8) token += static_cast<char>((ts >> s) & 0xFF);
  token.append(reinterpret_cast<const char*>(iv.data()), iv.size());
  std::string ct;
  if (!aes(true, k, iv.data(), plain, ct)) return {};
  token += ct;
  const auto mac = hmac(k, token);
  token.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return b64url_encode(token);
}

std::string encrypt(const key& k, std::string_view plain) {
  std::array<unsigned char, 16> iv{};
  RAND_bytes(iv.data(), static_cast<int>(iv.size()));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return encrypt(k, plain, static_cast<std::uint64_t>(now), iv);
}

common::result<std::string> decrypt(const std::vector<key>& keys, std::string_view token, std::uint64_t now,
                                    std::uint64_t ttl) {
  std::string raw;
  if (!b64url_decode(token, raw) || raw.size() < 1 + 8 + 16 + 16 + 32 || static_cast<unsigned char>(raw[0]) != 0x80 ||
      (raw.size() - 1 - 8 - 16 - 32) % 16 != 0) {
    return common::error{"not a Fernet token"};
  }
  std::uint64_t ts = 0;
  for (int i = 1; i <= 8; ++i) ts = (ts << 8) | static_cast<unsigned char>(raw[i]);
  if (ts + ttl < now) return common::error{"Fernet token expired"};
  if (ts > now + 60) return common::error{"Fernet token from the future"};
  const std::string_view signed_part(raw.data(), raw.size() - 32);
  const auto* mac = reinterpret_cast<const unsigned char*>(raw.data() + raw.size() - 32);
  for (const auto& k : keys) {
    const auto want = hmac(k, signed_part);
    if (CRYPTO_memcmp(want.data(), mac, 32) != 0) continue;
    std::string plain;
    const auto* iv = reinterpret_cast<const unsigned char*>(raw.data() + 9);
    if (!aes(false, k, iv, std::string_view(raw.data() + 25, raw.size() - 25 - 32), plain)) {
      return common::error{"Fernet token does not decrypt"};
    }
    return plain;
  }
  return common::error{"Fernet token signed with an unknown key"};
}

}  // namespace sb::layerd::fernet
