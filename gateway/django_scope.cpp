// django_scope.cpp — see django_scope.hpp.
#include "gateway/django_scope.hpp"

#include <cctype>
#include <string_view>

#include <msgpack.hpp>

namespace sb::gateway {
namespace {
using packer = msgpack::packer<msgpack::sbuffer>;
void str(packer& pk, std::string_view s) { pk.pack(s); }
void bin(packer& pk, std::string_view b) {
  pk.pack_bin(static_cast<std::uint32_t>(b.size()));
  pk.pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
}
void host_port(packer& pk, const std::pair<std::string, std::uint16_t>& hp) {
  pk.pack_array(2);
  str(pk, hp.first);
  pk.pack(hp.second);
}
}  // namespace

std::string django_scope::to_msgpack() const {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(13);
  str(pk, "type");
  str(pk, "websocket");
  str(pk, "asgi");
  pk.pack_map(1);
  str(pk, "version");
  str(pk, "3.0");
  str(pk, "http_version");
  str(pk, "1.1");
  str(pk, "scheme");
  str(pk, scheme);
  str(pk, "path");
  str(pk, path);
  str(pk, "raw_path");
  bin(pk, raw_path);
  str(pk, "query_string");
  bin(pk, query_string);
  str(pk, "root_path");
  str(pk, "");
  str(pk, "headers");
  pk.pack_array(static_cast<std::uint32_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    pk.pack_array(2);
    bin(pk, lower);
    bin(pk, value);
  }
  str(pk, "client");
  host_port(pk, client);
  str(pk, "server");
  host_port(pk, server);
  str(pk, "subprotocols");
  pk.pack_array(static_cast<std::uint32_t>(subprotocols.size()));
  for (const auto& s : subprotocols) str(pk, s);
  str(pk, "url_route");
  pk.pack_map(2);
  str(pk, "args");
  pk.pack_array(0);
  str(pk, "kwargs");
  pk.pack_map(static_cast<std::uint32_t>(kwargs.size()));
  for (const auto& [k, v] : kwargs) {
    str(pk, k);
    str(pk, v);
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
