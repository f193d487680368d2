// dialer.hpp — starts one non-blocking TCP connection towards a gateway:
// picks the gateway and the source address from the connection id, sets the
// socket up and registers it in an epoll set, ready for EPOLLOUT.
//
// Why this shape: which gateway and which source address a connection uses
// is a pure function of its id (gid % gateways, then gid / gateways over the
// source addresses), so connections spread evenly and a rerun spreads the
// same way; the kernel picks the port at connect() time per 4-tuple
// (IP_BIND_ADDRESS_NO_PORT), so each source address gives a full ephemeral
// range towards each gateway. It keeps no state besides the options.
// Threading: none of its own; used from one worker thread.
#pragma once

#include <cstdint>

#include "bench/bench_options.hpp"
#include "bench/ipc.hpp"

namespace sb::bench {

class dialer {
 public:
  explicit dialer(const bench_options& opt) : opt_(opt) {}

  // The gateway connection gid talks to.
  const target& gateway_of(std::uint64_t gid) const { return opt_.urls[gid % opt_.urls.size()]; }
  // Opens a socket for gid, adds it to epoll set `ep` for EPOLLOUT under `tag`
  // and starts connect(). Returns the fd, or -1 with `why` set (nothing left open).
  int dial(std::uint64_t gid, int ep, std::uint64_t tag, fail_kind& why) const;
  // What a connect() errno means.
  static fail_kind connect_failure(int err);

 private:
  const bench_options& opt_;
};

}  // namespace sb::bench
