// codec_test_util.hpp — what every proto codec test needs: a message sent
// through encode() and decode() again, and a body written by hand with
// msgpack (to build the malformed ones encode() never would).
//
// Header-only, for tests; the test's thread only.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <msgpack.hpp>

#include "proto/codec.hpp"

namespace sb::proto {

inline message round_trip(const message& m) {
  auto body = encode(m);
  auto back = decode(static_cast<std::uint8_t>(kind_of(m)), body);
  EXPECT_TRUE(back) << (back ? "" : back.error_text());
  return back ? back.value() : message{heartbeat{}};
}

inline std::string packed(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& f) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  f(pk);
  return std::string(buf.data(), buf.size());
}

}  // namespace sb::proto
