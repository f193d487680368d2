// worker_event.cpp — see worker_event.hpp.
#include "common/worker_event.hpp"

#include <algorithm>

#include <msgpack.hpp>

#include "common/limits.hpp"
#include "common/msgpack_write.hpp"

namespace sb::common {

namespace {

template <class Sockets>
std::string event_message(std::string_view event_msgpack, Sockets&& sockets) {
  msgpack::sbuffer buf;
  msgpack_packer pk(buf);
  pk.pack_map(3);
  pack_str(pk, "type");
  pack_str(pk, "switchboard.event");
  sockets(pk);
  pack_str(pk, "event");
  buf.write(event_msgpack.data(), event_msgpack.size());  // the event unchanged, once
  return std::string(buf.data(), buf.size());
}

}  // namespace

std::string worker_event(std::string_view socket, std::string_view event_msgpack) {
  return event_message(event_msgpack, [&](msgpack_packer& pk) {
    pack_str(pk, "socket");
    pack_str(pk, socket);
  });
}

std::string worker_event(const std::vector<std::string>& sockets, std::size_t first, std::size_t count,
                         std::string_view event_msgpack) {
  if (count == 1) return worker_event(sockets[first], event_msgpack);
  return event_message(event_msgpack, [&](msgpack_packer& pk) {
    pack_str(pk, "sockets");
    pk.pack_array(static_cast<std::uint32_t>(count));
    for (std::size_t i = first; i < first + count; ++i) pack_str(pk, sockets[i]);
  });
}

std::size_t worker_event_names(std::size_t event_bytes) {
  const std::size_t room = limits::max_event_bytes > event_bytes + 1024 ? limits::max_event_bytes - event_bytes - 1024 : 0;
  return std::clamp<std::size_t>(room / 104, 1, max_worker_event_names);
}

}  // namespace sb::common
