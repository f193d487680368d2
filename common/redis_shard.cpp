// redis_shard.cpp — see redis_shard.hpp.
#include "common/redis_shard.hpp"

#include <array>

namespace sb::common {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto crc_table = make_crc_table();

}  // namespace

std::uint32_t crc32(std::string_view data) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = crc_table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::size_t redis_shard(std::string_view name, std::size_t hosts) {
  if (hosts <= 1) return 0;
  const std::uint32_t v = crc32(name) & 0xFFF;
  // channels_redis: int(v / (4096 / n)), in double precision.
  const double bucket = 4096.0 / static_cast<double>(hosts);
  return static_cast<std::size_t>(static_cast<double>(v) / bucket);
}

}  // namespace sb::common
