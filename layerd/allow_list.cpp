// allow_list.cpp — see allow_list.hpp.
#include "layerd/allow_list.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include "common/curve_keys.hpp"

namespace sb::layerd {
namespace {

// `<prefix>.` + 16 lowercase hex digits (gateway_server::make_run_id and
// switchboard-cli's layer_client make ids of this form).
bool is_run_id_of(std::string_view routing_id, std::string_view prefix) {
  if (routing_id.size() != prefix.size() + 17 || routing_id.substr(0, prefix.size()) != prefix ||
      routing_id[prefix.size()] != '.') {
    return false;
  }
  for (char c : routing_id.substr(prefix.size() + 1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// The gateway --id rule (gateway/options.cpp), also used for client labels.
bool is_valid_id(std::string_view s) {
  static const std::regex id("[A-Za-z0-9_-]{1,32}");
  return std::regex_match(s.begin(), s.end(), id);
}

}  // namespace

bool allowed_peer::may_use(std::string_view routing_id) const {
  return is_run_id_of(routing_id, what == role::gateway ? std::string_view(name) : std::string_view("cli"));
}

std::string allowed_peer::describe() const {
  return (what == role::gateway ? "gateway " : "client ") + name;
}

common::result<allow_list> allow_list::parse(std::string_view text, const std::string& what) {
  if (text.size() > max_bytes) return common::error{what + ": over " + std::to_string(max_bytes) + " bytes"};
  allow_list out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    // `#` is also a Z85 digit, but never a key's first (Z85's first digit
    // of a 32-bit group is at most '%'), so a field that starts with `#`
    // starts a comment.
    auto f = fields(line);
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i].front() == '#') {
        f.resize(i);
        break;
      }
    }
    if (f.empty()) continue;
    auto bad = [&](const std::string& why) {
      return common::error{what + " line " + std::to_string(line_no) + ": " + why};
    };
    if (!common::is_z85_key(f[0])) return bad("\"" + std::string(f[0].substr(0, 48)) + "\" is not a CURVE public key (40 Z85 characters)");
    if (f.size() < 2) return bad("a role is missing: expected `<key> gateway <id>` or `<key> client [<name>]`");
    allowed_peer p;
    if (f[1] == "gateway") {
      p.what = allowed_peer::role::gateway;
      if (f.size() != 3) return bad("expected `<key> gateway <id>` (exactly one gateway --id)");
      if (!is_valid_id(f[2])) return bad("gateway id must be 1-32 letters, digits, '-' or '_'");
      // switchboard-cli's routing ids are cli.<hex>: a gateway called cli
      // could not be told from a client.
      if (f[2] == "cli") return bad("gateway id \"cli\" is reserved for switchboard-cli's routing ids");
    } else if (f[1] == "client") {
      if (f.size() > 3) return bad("expected `<key> client [<name>]`");
      if (f.size() == 3 && !is_valid_id(f[2])) return bad("client name must be 1-32 letters, digits, '-' or '_'");
    } else {
      return bad("unknown role \"" + std::string(f[1].substr(0, 32)) + "\": use gateway or client");
    }
    if (f.size() == 3) p.name = f[2];
    if (out.by_key_.size() >= max_entries) return bad("more than " + std::to_string(max_entries) + " keys");
    if (!out.by_key_.emplace(std::string(f[0]), std::move(p)).second) return bad("this key is listed twice");
  }
  if (out.by_key_.empty()) return common::error{what + ": no keys (every peer would be refused)"};
  return out;
}

common::result<allow_list> allow_list::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::error{"cannot read " + path + ": " + std::strerror(errno)};
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse(text, path);
}

const allowed_peer* allow_list::find(std::string_view z85_key) const {
  auto it = by_key_.find(std::string(z85_key));
  return it == by_key_.end() ? nullptr : &it->second;
}

}  // namespace sb::layerd
