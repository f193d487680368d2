// dialer.cpp — see dialer.hpp. No state, no threads.
#include "bench/dialer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sb::bench {

fail_kind dialer::connect_failure(int err) {
  return err == EADDRNOTAVAIL ? fail_kind::addr_unavailable
         : err == ECONNREFUSED ? fail_kind::refused
                               : fail_kind::connect_error;
}

int dialer::dial(std::uint64_t gid, int ep, std::uint64_t tag, fail_kind& why) const {
  const target& dst = gateway_of(gid);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = fail_kind::socket_error;
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!opt_.source_ips.empty()) {
    // Port chosen at connect() time per 4-tuple, so each source address
    // gives a full ephemeral range towards each gateway.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = opt_.source_ips[(gid / opt_.urls.size()) % opt_.source_ips.size()];
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ::close(fd);
      why = fail_kind::socket_error;
      return -1;
    }
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = dst.addr;
  sa.sin_port = htons(dst.port);
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = tag;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    why = fail_kind::socket_error;
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    why = connect_failure(errno);
    ::close(fd);  // also leaves the epoll set
    return -1;
  }
  return fd;  // EPOLLOUT reports the outcome
}

}  // namespace sb::bench
