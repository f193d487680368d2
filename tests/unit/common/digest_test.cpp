// Unit tests for common/digest: SHA-1 through OpenSSL.
// Why hard-coded expectations: each digest was computed with Debian's
// /usr/bin/python3 (hashlib), the implementation Django Channels uses for
// group names, so these pin our hashes to what Django computes; the FIPS
// 180 vectors and the lengths around the 64-byte block and its padding
// would catch a wrong buffer length or a truncated input. No sockets, no
// threads.
#include "common/digest.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using sb::common::sha1_digest;
using sb::common::sha1_hex;

// ---------------------------------------------------------------- sha1
// Expected digests: /usr/bin/python3 -c "import hashlib; print(hashlib.sha1(DATA).hexdigest())"

TEST(Sha1, HashesTheEmptyString) {
    EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Sha1, HashesAbc) {
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    const auto digest = sha1_digest("abc");
    EXPECT_EQ(digest[0], 0xA9);
    EXPECT_EQ(digest[19], 0x9D);
}

TEST(Sha1, HashesTheTwoBlockFipsVector) {
    EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(Sha1, HashesOneMillionAs) {
    EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, HandlesEveryPaddingBoundary) {
    EXPECT_EQ(sha1_hex(std::string(55, 'a')), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    EXPECT_EQ(sha1_hex(std::string(56, 'a')), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    EXPECT_EQ(sha1_hex(std::string(63, 'a')), "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
    EXPECT_EQ(sha1_hex(std::string(64, 'a')), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    EXPECT_EQ(sha1_hex(std::string(65, 'a')), "11655326c708d70319be2610e8a57d9a5b959d3b");
    EXPECT_EQ(sha1_hex(std::string(119, 'a')), "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
    EXPECT_EQ(sha1_hex(std::string(120, 'a')), "f34c1488385346a55709ba056ddd08280dd4c6d6");
}

}  // namespace
