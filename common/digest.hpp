// digest.hpp — SHA-1 through OpenSSL, for the places Switchboard must
// reproduce a SHA-1 that someone else computes.
//
// Three callers need the same hash: group names (Django Channels'
// hashlib.sha1(room.encode()).hexdigest()[:32], common/names.cpp), the
// WebSocket handshake's Sec-WebSocket-Accept (gateway/ws_handshake.cpp)
// and pending-notification tags (layerd/pending.cpp). None of them is a
// security use; OpenSSL is here because both daemons already link it, so
// a hand-written SHA-1 would only be more code to trust.
//
// Any thread: the one shared object, OpenSSL's SHA-1 implementation, is
// fetched once (thread-safe static) and only read after that.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace sb::common {

// Loads OpenSSL's SHA-1 now (a daemon's start-up), so no request pays the
// one-time provider set-up. Optional: the first digest does it otherwise.
void prepare_digests();

// The 20-byte SHA-1 digest of `data`.
std::array<unsigned char, 20> sha1_digest(std::string_view data);

// The same digest as 40 lowercase hex digits (Python's hexdigest()).
std::string sha1_hex(std::string_view data);

}  // namespace sb::common
