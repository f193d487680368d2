// fernet_test.cpp — channels_redis' encryption, against a token recorded from the library
// (docs/django.md, Message format).
#include <gtest/gtest.h>

#include "layerd/fernet.hpp"

namespace sb::layerd::fernet {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

const std::string tv2_body = unhex(
    "83a474797065ac636861742e6d657373616765a76d657373616765a26869b05f5f617367695f6368616e6e656c5f5f91a9706c61696e6368616e");
const std::string tv5_token =
    "gAAAAABlU_EAAAECAwQFBgcICQoLDA0OD5IZoHp9Z_Nk2En22e9im6av8S028wSCLicvaHKrakX-X48Z_2o9inZQUAguMK-A8W3-G4Ltkn25TYQrA3MNH"
    "FcBElXPvhXnbtIAFycz5o2eCrtKvghIKkiqlh3HbXm8RQ==";

std::array<unsigned char, 16> iv_0_to_15() {
  std::array<unsigned char, 16> iv{};
  for (int i = 0; i < 16; ++i) iv[i] = static_cast<unsigned char>(i);
  return iv;
}

TEST(Fernet, EncryptsTestVectorFiveExactly) {
  EXPECT_EQ(encrypt(derive("s3cret"), tv2_body, 1700000000, iv_0_to_15()), tv5_token);
}

TEST(Fernet, DecryptsTestVectorFiveWithinItsLifetime) {
  auto plain = decrypt({derive("s3cret")}, tv5_token, 1700000000 + 30, 70);
  ASSERT_TRUE(plain) << plain.error_text();
  EXPECT_EQ(plain.value(), tv2_body);
}

TEST(Fernet, RefusesOldFutureForeignAndDamagedTokens) {
  EXPECT_FALSE(decrypt({derive("s3cret")}, tv5_token, 1700000000 + 71, 70)) << "older than expiry + 10 s";
  EXPECT_FALSE(decrypt({derive("s3cret")}, tv5_token, 1700000000 - 61, 70)) << "more than 60 s ahead";
  EXPECT_FALSE(decrypt({derive("other")}, tv5_token, 1700000000, 70)) << "unknown key";
  std::string damaged = tv5_token;
  damaged[40] = damaged[40] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(decrypt({derive("s3cret")}, damaged, 1700000000, 70));
  EXPECT_FALSE(decrypt({derive("s3cret")}, "not a token", 1700000000, 70));
}

TEST(Fernet, TriesEveryKeySoKeysCanRotate) {
  auto plain = decrypt({derive("new"), derive("s3cret")}, tv5_token, 1700000000, 70);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain.value(), tv2_body);
}

TEST(Fernet, RoundTripsWithARandomIv) {
  const auto k = derive("k");
  const auto t1 = encrypt(k, "hello"), t2 = encrypt(k, "hello");
  EXPECT_NE(t1, t2);
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  EXPECT_EQ(decrypt({k}, t1, now, 70).value(), "hello");
}

}  // namespace
}  // namespace sb::layerd::fernet
