// bench_selftest.cpp — unit tests of the bench's pure parts (ctest label unit).
//
// The load generator is only worth its numbers if its framing, handshake
// check, payload codec and histogram are right, and a live server exercises
// only some paths (it never masks, never pings in a short run), so these
// are checked here against hand-built frames and RFC 6455's own example.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>

#include "bench/chat_payload.hpp"
#include "bench/histogram.hpp"
#include "bench/server_probe.hpp"
#include "bench/ws_codec.hpp"

namespace sb::bench {
namespace {

std::string server_frame_bytes(std::uint8_t op, const std::string& payload, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | op));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(126);
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  return f + payload;
}

TEST(Handshake, AcceptMatchesTheRfcExample) {
  EXPECT_EQ(ws::accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, KeyIsSixteenBytesOfBase64) {
  const auto k = ws::key_from_seed(42);
  EXPECT_EQ(k.size(), 24u);
  EXPECT_EQ(k.substr(22), "==");
  EXPECT_NE(k, ws::key_from_seed(43));
}

TEST(Handshake, AnswerIsCheckedForStatusAndAccept) {
  const std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "sec-websocket-accept: abc=\r\n\r\n\x81\x02hi";
  auto a = ws::parse_upgrade_answer(ok, "abc=");
  EXPECT_EQ(a.what, ws::upgrade_answer::kind::ok);
  EXPECT_EQ(ok.substr(a.header_bytes), "\x81\x02hi");
  EXPECT_EQ(ws::parse_upgrade_answer(ok, "xyz=").what, ws::upgrade_answer::kind::bad_accept);
  EXPECT_EQ(ws::parse_upgrade_answer("HTTP/1.1 101 Sw", "abc=").what, ws::upgrade_answer::kind::incomplete);
  auto busy = ws::parse_upgrade_answer("HTTP/1.1 503 Service Unavailable\r\n\r\n", "abc=");
  EXPECT_EQ(busy.what, ws::upgrade_answer::kind::bad_status);
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(ws::parse_upgrade_answer("garbage\r\n\r\n", "a").what, ws::upgrade_answer::kind::malformed);
}

TEST(Frames, ClientFramesAreMaskedForEveryLengthForm) {
  for (std::size_t len : {0u, 5u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(len, 'x');
    std::string out(len + ws::max_client_header, '\0');
    const std::size_t n = ws::encode_client_frame(ws::op_text, payload, 0x01020304u, out.data());
    const auto* p = reinterpret_cast<const unsigned char*>(out.data());
    EXPECT_EQ(p[0], 0x81);
    EXPECT_TRUE(p[1] & 0x80) << "mask bit, len " << len;
    const std::size_t head = len < 126 ? 6 : len <= 0xFFFF ? 8 : 14;
    ASSERT_EQ(n, head + len);
    const unsigned char key[4] = {1, 2, 3, 4};
    EXPECT_EQ(std::memcmp(p + head - 4, key, 4), 0);
    for (std::size_t i = 0; i < len; ++i) ASSERT_EQ(p[head + i] ^ key[i & 3], 'x');
  }
}

TEST(Frames, ServerFramesDecodeWithSevenSixteenAndSixtyFourBitLengths) {
  for (std::size_t len : {3u, 126u, 300u, 65536u, 100000u}) {
    const std::string payload(len, 'a');
    const std::string bytes = server_frame_bytes(ws::op_text, payload) + "tail";
    ws::server_frame f;
    std::size_t used = 0;
    ASSERT_EQ(ws::decode_server_frame(bytes, 1u << 20, f, used), ws::decode_status::ok);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.opcode, ws::op_text);
    EXPECT_EQ(f.payload.size(), len);
    EXPECT_EQ(bytes.substr(used), "tail");
    // Every prefix is incomplete, never an error.
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{3}, bytes.size() - 5})
      EXPECT_EQ(ws::decode_server_frame(std::string_view(bytes).substr(0, cut), 1u << 20, f, used),
                ws::decode_status::incomplete);
  }
}

TEST(Frames, ControlFramesAndViolations) {
  ws::server_frame f;
  std::size_t used = 0;
  const std::string ping = server_frame_bytes(ws::op_ping, "abc");
  ASSERT_EQ(ws::decode_server_frame(ping, 100, f, used), ws::decode_status::ok);
  EXPECT_EQ(f.opcode, ws::op_ping);
  EXPECT_EQ(f.payload, "abc");
  // A masked server frame, a long control frame, a fragmented control frame, an oversize frame.
  std::string masked = ping;
  masked[1] = static_cast<char>(masked[1] | 0x80);
  EXPECT_EQ(ws::decode_server_frame(masked, 100, f, used), ws::decode_status::protocol_error);
  EXPECT_EQ(ws::decode_server_frame(server_frame_bytes(ws::op_close, std::string(126, 'c')), 1000, f, used),
            ws::decode_status::protocol_error);
  EXPECT_EQ(ws::decode_server_frame(server_frame_bytes(ws::op_pong, "x", false), 100, f, used),
            ws::decode_status::protocol_error);
  EXPECT_EQ(ws::decode_server_frame(server_frame_bytes(ws::op_text, std::string(200, 'a')), 100, f, used),
            ws::decode_status::protocol_error);
}

TEST(ChatPayload, RoundTripsThroughTheGatewaysJson) {
  chat_payload in{7, 3, 12345, 99999999999ull, 123456789012345ull};
  char buf[max_chat_text + 16];
  const std::size_t n = encode_chat_text(in, 10, buf, sizeof buf);
  const std::string text(buf, n);
  EXPECT_EQ(text.rfind(R"({"message":"sb1:7:3:12345:99999999999:123456789012345:..........")", 0), 0u) << text;
  chat_payload out;
  ASSERT_EQ(parse_chat_text(text, out), chat_parse::ours);
  EXPECT_EQ(out.step, 7u);
  EXPECT_EQ(out.slot, 3u);
  EXPECT_EQ(out.seq, 12345u);
  EXPECT_EQ(out.sender, 99999999999ull);
  EXPECT_EQ(out.sent_ns, 123456789012345ull);
  ASSERT_EQ(parse_chat_text(R"({"message": "sb1:1:2:3:4:5:"})", out), chat_parse::ours);
  EXPECT_EQ(parse_chat_text(R"({"message":"hello"})", out), chat_parse::not_ours);
  EXPECT_EQ(parse_chat_text(R"({"type":"error","code":"bad_json"})", out), chat_parse::error_frame);
  EXPECT_EQ(parse_chat_text(R"({"message":"sb1:1:2:x"})", out), chat_parse::not_ours);
}

TEST(Histogram, QuantilesAreWithinTheBucketError) {
  histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), 100'000'000u);
  EXPECT_EQ(h.min(), 1000u);
  auto near = [](double got, double want) { return got >= want && got <= want * 1.04; };
  EXPECT_TRUE(near(static_cast<double>(h.quantile(0.5)), 50e6)) << h.quantile(0.5);
  EXPECT_TRUE(near(static_cast<double>(h.quantile(0.99)), 99e6)) << h.quantile(0.99);
  EXPECT_EQ(h.quantile(1.0), h.max());
}

TEST(Histogram, MergingEqualsRecordingEverything) {
  histogram a, b, all;
  for (std::uint64_t v = 0; v < 5000; ++v) {
    (v % 3 ? a : b).record(v * v);
    all.record(v * v);
  }
  a.merge(b);
  EXPECT_EQ(a.buckets(), all.buckets());
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.quantile(0.9), all.quantile(0.9));
  EXPECT_EQ(a.min(), 0u);
}

TEST(Histogram, BucketEdgesCoverEveryValue) {
  for (std::uint64_t v : std::initializer_list<std::uint64_t>{0, 31, 32, 33, 1000, 123456789, 1ull << 40, UINT64_MAX}) {
    const auto i = histogram::index_of(v);
    ASSERT_LT(i, histogram::bucket_count);
    EXPECT_GE(histogram::upper_edge(i), v);
    if (i > 0) {
      EXPECT_LT(histogram::upper_edge(i - 1), v);
    }
  }
}

}  // namespace
}  // namespace sb::bench

TEST(MachineCpu, IdleTimeAndCpuCountComeFromProcStat) {
  // user nice system idle iowait irq softirq steal guest guest_nice, in USER_HZ ticks.
  const std::string text =
      "cpu  700 10 300 5000 20 0 40 5 0 0\n"
      "cpu0 350 5 150 2500 10 0 20 2 0 0\n"
      "cpu1 350 5 150 2500 10 0 20 3 0 0\n"
      "intr 12345 1 2 3\n"
      "ctxt 999\n";
  sb::bench::machine_sample m;
  ASSERT_TRUE(sb::bench::parse_proc_stat(text, 100, m));
  EXPECT_TRUE(m.ok);
  EXPECT_EQ(m.cpus, 2u);
  EXPECT_EQ(m.idle_us, (5000u + 20) * 10'000u);
}

TEST(MachineCpu, TextWithoutTheTotalLineIsRefused) {
  sb::bench::machine_sample m;
  EXPECT_FALSE(sb::bench::parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n", 100, m));
  EXPECT_FALSE(sb::bench::parse_proc_stat("cpu  1 2 3\ncpu0 1 2 3 4 5\n", 100, m));
  EXPECT_FALSE(sb::bench::parse_proc_stat("", 100, m));
  EXPECT_FALSE(m.ok);
}

TEST(MachineCpu, BusyIsWallTimesCpusLessIdle) {
  sb::bench::machine_sample a, b;
  a.ok = b.ok = true;
  a.cpus = b.cpus = 2;
  a.at_ns = 1'000'000'000;
  b.at_ns = 3'000'000'000;  // 2 s later: 4 CPU-seconds in all
  a.idle_us = 10'000'000;
  b.idle_us = 11'500'000;   // 1.5 s of it idle
  EXPECT_DOUBLE_EQ(sb::bench::machine_busy_s(a, b), 2.5);
  b.cpus = 4;  // a CPU came online: not comparable
  EXPECT_EQ(sb::bench::machine_busy_s(a, b), 0.0);
}

TEST(MachineCpu, ThisMachineIsReadable) {
  const auto a = sb::bench::sample_machine();
  ASSERT_TRUE(a.ok);
  EXPECT_GE(a.cpus, 1u);
  EXPECT_GT(a.at_ns, 0u);
}
