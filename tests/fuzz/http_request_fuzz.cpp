// http_request_fuzz.cpp — libFuzzer target for the gateway's HTTP request path.
//
// Arbitrary bytes, split into arbitrary chunks as TCP may deliver them, go
// through what http_session does with a request before any route is
// served: the request-line check, Beast's parser with the gateway's header
// and body limits, the header checks, then the WebSocket upgrade checks, the
// history query and the room-name decoding of the target. Nothing may crash, read out of
// bounds, or let a part over its limit through.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/limits.hpp"
#include "common/names.hpp"
#include "gateway/join_query.hpp"
#include "gateway/request_checks.hpp"
#include "gateway/ws_handshake.hpp"

namespace http = boost::beast::http;

namespace {

void route_target(std::string_view target) {
  // ?history= and ?since=: a replay within the bound, or a refusal with a reason.
  const auto q = sb::gateway::parse_join_query(target);
  if (q.refusal ? q.replay() || q.detail.empty() : q.count > sb::common::limits::max_history_count) std::abort();
  std::string_view path = target.substr(0, target.find('?'));
  const auto slash = path.find('/', 1);
  if (slash == std::string_view::npos) return;
  auto decoded = sb::common::percent_decode(path.substr(slash + 1));
  if (!decoded) return;
  if (sb::common::decode_utf8(*decoded) && sb::common::is_valid_room_name(*decoded)) {
    const std::string group = sb::common::group_for("chat_", *decoded);
    if (!sb::common::is_valid_group_name(group)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;  // first byte: how TCP splits the rest
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  // The request line: checked once a line (or the header limit) is in.
  const auto lf = input.find('\n');
  if (lf != std::string_view::npos && sb::gateway::request_line_problem(input)) return 0;

  http::request_parser<http::string_body> parser;
  parser.header_limit(sb::common::limits::max_http_header_bytes);
  parser.body_limit(sb::common::limits::max_http_body_bytes);
  boost::beast::flat_buffer buffer;
  bool header_checked = false;
  for (std::size_t off = 0; off < input.size() && !parser.is_done();) {
    const std::size_t n = std::min(chunk, input.size() - off);
    auto room = buffer.prepare(n);
    std::memcpy(room.data(), input.data() + off, n);
    buffer.commit(n);
    off += n;
    boost::beast::error_code ec;
    for (;;) {
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return 0;  // refused with 400
      if (parser.is_header_done() && !header_checked) {
        header_checked = true;
        if (sb::gateway::header_problem(parser.get().base())) return 0;
      }
      if (parser.is_done() || used == 0) break;
    }
  }
  if (!parser.is_done()) return 0;
  const auto& req = parser.get();
  if (req.body().size() > sb::common::limits::max_http_body_bytes) std::abort();
  route_target(std::string_view(req.target().data(), req.target().size()));
  if (sb::gateway::ws::wants_websocket(req)) {
    auto check = sb::gateway::ws::check_upgrade(req);
    if (check.ok && check.accept.size() != 28) std::abort();  // base64 of a SHA-1
  }
  return 0;
}
