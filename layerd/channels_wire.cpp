// channels_wire.cpp — see channels_wire.hpp.
#include "layerd/channels_wire.hpp"

#include <fnmatch.h>

#include <msgpack.hpp>

#include "common/limits.hpp"

namespace sb::layerd::wire {
namespace {

constexpr std::string_view channel_key = "__asgi_channel__";

msgpack::object_handle unpack_map(std::string_view bytes) {
  const msgpack::unpack_limit limit(bytes.size(), bytes.size() / 2, common::limits::max_event_bytes,
                                    common::limits::max_event_bytes, common::limits::max_event_bytes, 32);
  std::size_t off = 0;
  auto oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
  if (off != bytes.size()) throw std::runtime_error("trailing bytes");
  if (oh.get().type != msgpack::type::MAP) throw std::runtime_error("not a map");
  return oh;
}

bool is_channel_key(const msgpack::object& k) {
  return k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == channel_key;
}

}  // namespace

std::string_view non_local(std::string_view channel) {
  const auto bang = channel.find('!');
  return bang == std::string_view::npos ? channel : channel.substr(0, bang + 1);
}

common::result<inbound> decode_member(std::string_view member) {
  if (member.size() <= prefix_bytes) return common::error{"member shorter than the 12-byte prefix"};
  return decode_body(member.substr(prefix_bytes));
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // fnmatch needs NUL-terminated strings; names and patterns are short.
  // FNM_NOESCAPE: Python's fnmatch has no escape character, a backslash is literal.
  return ::fnmatch(std::string(pattern).c_str(), std::string(name).c_str(), FNM_NOESCAPE) == 0;
}

common::result<inbound> decode_body(std::string_view body) {
  try {
    auto oh = unpack_map(body);
    const auto& map = oh.get().via.map;
    inbound out;
    bool found = false;
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < map.size; ++i) kept += is_channel_key(map.ptr[i].key) ? 0 : 1;
    pk.pack_map(kept);
    for (std::uint32_t i = 0; i < map.size; ++i) {
      const auto& kv = map.ptr[i];
      if (!is_channel_key(kv.key)) {
        pk.pack(kv.key);
        pk.pack(kv.val);
        continue;
      }
      found = true;
      if (kv.val.type == msgpack::type::STR) {
        out.channels.emplace_back(kv.val.via.str.ptr, kv.val.via.str.size);
      } else if (kv.val.type == msgpack::type::ARRAY) {
        out.from_group_send = true;
        for (std::uint32_t j = 0; j < kv.val.via.array.size; ++j) {
          const auto& c = kv.val.via.array.ptr[j];
          if (c.type != msgpack::type::STR) return common::error{"__asgi_channel__ lists a non-string"};
          out.channels.emplace_back(c.via.str.ptr, c.via.str.size);
        }
      } else {
        return common::error{"__asgi_channel__ is neither a string nor an array"};
      }
    }
    if (!found) return common::error{"no __asgi_channel__ field (not addressed to a channel)"};
    out.event.assign(buf.data(), buf.size());
    return out;
  } catch (const std::exception& e) {
    return common::error{std::string("undecodable message: ") + e.what()};
  }
}

common::result<std::string> encode_body(std::string_view event, const std::vector<std::string>& channels,
                                        channel_field field) {
  try {
    auto oh = unpack_map(event);
    const auto& map = oh.get().via.map;
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < map.size; ++i) kept += is_channel_key(map.ptr[i].key) ? 0 : 1;
    const bool add = field != channel_field::none;
    pk.pack_map(kept + (add ? 1 : 0));
    for (std::uint32_t i = 0; i < map.size; ++i) {
      if (is_channel_key(map.ptr[i].key)) continue;  // a sender never sets it; drop a stray one
      pk.pack(map.ptr[i].key);
      pk.pack(map.ptr[i].val);
    }
    if (add) {
      pk.pack(channel_key);
      if (field == channel_field::string) {
        pk.pack(std::string_view(channels.empty() ? std::string_view() : std::string_view(channels.front())));
      } else {
        pk.pack_array(static_cast<std::uint32_t>(channels.size()));
        for (const auto& c : channels) pk.pack(std::string_view(c));
      }
    }
    return std::string(buf.data(), buf.size());
  } catch (const std::exception& e) {
    return common::error{std::string("event is not a msgpack map: ") + e.what()};
  }
}

std::string random_prefix(std::mt19937_64& rng) {
  std::string out(prefix_bytes, '\0');
  for (std::size_t i = 0; i < prefix_bytes; i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8 && i + j < prefix_bytes; ++j) out[i + j] = static_cast<char>((v >> (8 * j)) & 0xFF);
  }
  return out;
}

const char* const capacity_script = R"LUA(
local n = #KEYS
local now = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
local full = 0
for i = 1, n do
  if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
    redis.call('ZADD', KEYS[i], now, ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    full = full + 1
  end
end
return full
)LUA";

}  // namespace sb::layerd::wire
