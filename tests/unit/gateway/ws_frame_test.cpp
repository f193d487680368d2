// ws_frame_test.cpp — RFC 6455 conformance of the gateway's frame reader and writer.
//
// Each case builds client frames byte by byte (so nothing here trusts the
// code under test to encode) and checks the event or close code the RFC
// calls for.
#include <gtest/gtest.h>

#include <vector>

#include "gateway/ws_frame.hpp"

namespace sb::gateway::ws {
namespace {

// A client frame: masked unless told otherwise; `len_bytes` forces a length
// encoding (0 = minimal) to test non-minimal forms.
std::string client_frame(std::uint8_t first, std::string_view payload, bool masked = true, int len_bytes = 0) {
  std::string f;
  f.push_back(static_cast<char>(first));
  const std::uint64_t n = payload.size();
  const std::uint8_t m = masked ? 0x80 : 0;
  if (len_bytes == 0) len_bytes = n < 126 ? 1 : (n <= 0xFFFF ? 2 : 8);
  if (len_bytes == 1) {
    f.push_back(static_cast<char>(m | n));
  } else if (len_bytes == 2) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<char>((n >> s) & 0xFF));
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(masked ? payload[i] ^ key[i & 3] : payload[i]));
  }
  return f;
}

struct seen {
  event::kind_t kind;
  std::string payload;
  std::uint16_t code;
};

// Feeds `bytes` to a reader in chunks of `chunk` bytes, keeping unconsumed
// bytes as the gateway does, and records every event.
std::vector<seen> feed(reader& r, std::string bytes, std::size_t chunk = 1 << 20) {
  std::vector<seen> out;
  std::string pending;
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    pending += bytes.substr(off, chunk);
    const auto used = r.consume(reinterpret_cast<unsigned char*>(pending.data()), pending.size(),
                                [&](const event& e) { out.push_back({e.kind, std::string(e.payload), e.code}); });
    pending.erase(0, used);
    if (r.failed()) break;
  }
  return out;
}

std::vector<seen> feed(std::string bytes, std::size_t chunk = 1 << 20, std::size_t max = 1 << 20) {
  reader r(max);
  return feed(r, std::move(bytes), chunk);
}

std::uint16_t error_code(const std::vector<seen>& s) {
  return !s.empty() && s.back().kind == event::error ? s.back().code : 0;
}

TEST(FrameReader, ReadsAMaskedTextFrame) {
  auto s = feed(client_frame(0x81, "{\"message\": \"hi\"}"));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, event::text);
  EXPECT_EQ(s[0].payload, "{\"message\": \"hi\"}");
}

TEST(FrameReader, ReadsFramesSplitAtEveryByte) {
  std::string two = client_frame(0x81, "hello") + client_frame(0x81, std::string(300, 'x'));
  auto s = feed(two, 1);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].payload, "hello");
  EXPECT_EQ(s[1].payload, std::string(300, 'x'));
}

TEST(FrameReader, ReadsSixteenAndSixtyFourBitLengths) {
  auto s = feed(client_frame(0x81, std::string(126, 'a')) + client_frame(0x81, std::string(70000, 'b')));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].payload.size(), 126u);
  EXPECT_EQ(s[1].payload.size(), 70000u);
}

TEST(FrameReader, RefusesNonMinimalLengths) {
  EXPECT_EQ(error_code(feed(client_frame(0x81, "short", true, 2))), close_protocol_error);
  EXPECT_EQ(error_code(feed(client_frame(0x81, std::string(200, 'x'), true, 8))), close_protocol_error);
}

TEST(FrameReader, RefusesALengthWithTheTopBitSet) {
  std::string f = "\x81\xFF";
  f += std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8);
  f += "abcd";
  EXPECT_EQ(error_code(feed(f)), close_protocol_error);
}

TEST(FrameReader, RefusesUnmaskedClientFrames) {
  EXPECT_EQ(error_code(feed(client_frame(0x81, "hi", false))), close_protocol_error);
}

TEST(FrameReader, RefusesReservedBitsAndOpcodes) {
  for (std::uint8_t first : {0xC1, 0xA1, 0x91}) {  // RSV1, RSV2, RSV3
    EXPECT_EQ(error_code(feed(client_frame(first, "x"))), close_protocol_error) << int(first);
  }
  for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(error_code(feed(client_frame(0x80 | op, "x"))), close_protocol_error) << int(op);
  }
}

TEST(FrameReader, AssemblesFragmentsWithInterleavedControlFrames) {
  std::string bytes = client_frame(0x01, "Hel") + client_frame(0x89, "ping!") + client_frame(0x00, "lo ") +
                      client_frame(0x8A, "") + client_frame(0x80, "world");
  auto s = feed(bytes, 3);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].kind, event::ping);
  EXPECT_EQ(s[0].payload, "ping!");
  EXPECT_EQ(s[1].kind, event::pong);
  EXPECT_EQ(s[2].kind, event::text);
  EXPECT_EQ(s[2].payload, "Hello world");
}

TEST(FrameReader, RefusesContinuationWithoutAStart) {
  EXPECT_EQ(error_code(feed(client_frame(0x80, "x"))), close_protocol_error);
}

TEST(FrameReader, RefusesANewMessageInsideAFragmentedOne) {
  EXPECT_EQ(error_code(feed(client_frame(0x01, "a") + client_frame(0x81, "b"))), close_protocol_error);
}

TEST(FrameReader, RefusesBigOrFragmentedControlFrames) {
  EXPECT_EQ(error_code(feed(client_frame(0x89, std::string(126, 'p')))), close_protocol_error);
  EXPECT_EQ(error_code(feed(client_frame(0x09, "p"))), close_protocol_error);
  auto ok = feed(client_frame(0x89, std::string(125, 'p')));
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].kind, event::ping);
}

TEST(FrameReader, ValidatesUtf8AcrossFragmentBoundaries) {
  // "로" = EB A1 9C split across three fragments is fine...
  auto good = feed(client_frame(0x01, "\xEB") + client_frame(0x00, "\xA1") + client_frame(0x80, "\x9C"));
  ASSERT_EQ(good.size(), 1u);
  EXPECT_EQ(good[0].payload, "\xEB\xA1\x9C");
  // ...but a message that ends inside a code point is not.
  EXPECT_EQ(error_code(feed(client_frame(0x01, "a\xEB") + client_frame(0x80, "\xA1"))), close_invalid_payload);
  // Bad bytes are caught in the first fragment, before the message ends.
  EXPECT_EQ(error_code(feed(client_frame(0x01, "\xC0\xAF"))), close_invalid_payload);
}

TEST(FrameReader, RefusesInvalidUtf8InText) {
  for (const char* bad : {"\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE0\x80\x80", "\x80"}) {
    EXPECT_EQ(error_code(feed(client_frame(0x81, bad))), close_invalid_payload) << bad;
  }
  auto binary = feed(client_frame(0x82, "\xFF\xFE"));
  ASSERT_EQ(binary.size(), 1u);
  EXPECT_EQ(binary[0].kind, event::binary) << "binary payloads are not UTF-8 checked";
}

TEST(FrameReader, ReadsCloseCodesAndReasons) {
  auto s = feed(client_frame(0x88, std::string("\x03\xE8", 2) + "bye"));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, event::close);
  EXPECT_EQ(s[0].code, 1000);
  EXPECT_EQ(s[0].payload, "bye");
  auto empty = feed(client_frame(0x88, ""));
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].code, close_no_status);
}

TEST(FrameReader, RefusesBadCloseFrames) {
  EXPECT_EQ(error_code(feed(client_frame(0x88, "\x03"))), close_protocol_error);  // 1-byte payload
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    EXPECT_EQ(error_code(feed(client_frame(0x88, p))), close_protocol_error) << code;
  }
  EXPECT_EQ(error_code(feed(client_frame(0x88, std::string("\x03\xE8\xFF", 3)))), close_invalid_payload);
}

TEST(FrameReader, NothingIsReadAfterAClose) {
  auto s = feed(client_frame(0x88, std::string("\x03\xE8", 2)) + client_frame(0x81, "late"));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, event::close);
}

TEST(FrameReader, EnforcesTheMessageSizeLimit) {
  EXPECT_EQ(error_code(feed(client_frame(0x81, std::string(1025, 'x')), 1 << 20, 1024)), close_too_big);
  // Refused from the header alone, before the payload arrives.
  reader r(1024);
  std::string header = client_frame(0x81, std::string(5000, 'x')).substr(0, 8);
  EXPECT_EQ(error_code(feed(r, header)), close_too_big);
  // Fragments count together.
  EXPECT_EQ(error_code(feed(client_frame(0x01, std::string(600, 'x')) + client_frame(0x80, std::string(600, 'x')),
                            1 << 20, 1024)),
            close_too_big);
  // A continuation's header alone is enough when the total would be over.
  reader r2(1024);
  std::string first = client_frame(0x01, std::string(600, 'x'));
  std::string next_header = client_frame(0x80, std::string(600, 'x')).substr(0, 8);
  EXPECT_EQ(error_code(feed(r2, first + next_header)), close_too_big);
  EXPECT_EQ(feed(client_frame(0x81, std::string(1024, 'x')), 1 << 20, 1024).at(0).kind, event::text);
}

TEST(FrameReader, HoldsNoMemoryBetweenMessages) {
  reader r(1 << 20);
  feed(r, client_frame(0x01, std::string(5000, 'a')) + client_frame(0x80, "b"));
  EXPECT_EQ(r.held(), 0u);
}

TEST(FrameWriter, UsesMinimalServerHeaders) {
  EXPECT_EQ(make_frame(op_text, "hi"), std::string("\x81\x02hi", 4));
  auto f126 = make_frame(op_text, std::string(126, 'a'));
  EXPECT_EQ(f126.substr(0, 4), std::string("\x81\x7E\x00\x7E", 4));
  auto f64k = make_frame(op_text, std::string(65536, 'a'));
  EXPECT_EQ(f64k.substr(0, 10), std::string("\x81\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  EXPECT_EQ(make_close_frame(1009, "message too big").substr(0, 4), std::string("\x88\x11\x03\xF1", 4));
}

TEST(FrameReader, RandomBytesNeverCrash) {
  std::uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes;
    const int len = static_cast<int>(x % 64);
    for (int j = 0; j < len; ++j) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      bytes += static_cast<char>(x & 0xFF);
    }
    (void)feed(bytes, 1 + x % 7, 256);
  }
  SUCCEED();
}

}  // namespace
}  // namespace sb::gateway::ws
