// django_scope.cpp — see django_scope.hpp.
#include "gateway/django_scope.hpp"

#include <cctype>
#include <string_view>

#include <msgpack.hpp>

#include "common/msgpack_write.hpp"

namespace sb::gateway {
namespace {
using packer = common::msgpack_packer;
using common::pack_bin;
using common::pack_str;
void host_port(packer& pk, const std::pair<std::string, std::uint16_t>& hp) {
  pk.pack_array(2);
  pack_str(pk, hp.first);
  pk.pack(hp.second);
}
}  // namespace

std::string django_scope::to_msgpack() const {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(13);
  pack_str(pk, "type");
  pack_str(pk, "websocket");
  pack_str(pk, "asgi");
  pk.pack_map(1);
  pack_str(pk, "version");
  pack_str(pk, "3.0");
  pack_str(pk, "http_version");
  pack_str(pk, "1.1");
  pack_str(pk, "scheme");
  pack_str(pk, scheme);
  pack_str(pk, "path");
  pack_str(pk, path);
  pack_str(pk, "raw_path");
  pack_bin(pk, raw_path);
  pack_str(pk, "query_string");
  pack_bin(pk, query_string);
  pack_str(pk, "root_path");
  pack_str(pk, "");
  pack_str(pk, "headers");
  pk.pack_array(static_cast<std::uint32_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    pk.pack_array(2);
    pack_bin(pk, lower);
    pack_bin(pk, value);
  }
  pack_str(pk, "client");
  host_port(pk, client);
  pack_str(pk, "server");
  host_port(pk, server);
  pack_str(pk, "subprotocols");
  pk.pack_array(static_cast<std::uint32_t>(subprotocols.size()));
  for (const auto& s : subprotocols) pack_str(pk, s);
  pack_str(pk, "url_route");
  pk.pack_map(2);
  pack_str(pk, "args");
  pk.pack_array(0);
  pack_str(pk, "kwargs");
  pk.pack_map(static_cast<std::uint32_t>(kwargs.size()));
  for (const auto& [k, v] : kwargs) {
    pack_str(pk, k);
    pack_str(pk, v);
  }
  return std::string(buf.data(), buf.size());
}

void add_subprotocols(std::string_view value, std::vector<std::string>& out) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view tok = value.substr(pos, comma - pos);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    if (!tok.empty()) out.emplace_back(tok);
    pos = comma + 1;
  }
}

}  // namespace sb::gateway
