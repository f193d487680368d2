// request_checks.cpp — see request_checks.hpp.
#include "gateway/request_checks.hpp"

namespace sb::gateway {

namespace http = boost::beast::http;

std::optional<std::string_view> request_line_problem(std::string_view buffered) {
  // request-line = method SP request-target SP HTTP-version CRLF; a line
  // too long for the header limit is left to Beast, which refuses it.
  const auto lf = buffered.find('\n');
  if (lf == std::string_view::npos) return std::nullopt;
  auto line = buffered.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const auto sp = line.rfind(' ');
  if (!line.empty() && (sp == std::string_view::npos || line.substr(sp + 1).rfind("HTTP/", 0) != 0)) {
    return "the request line has no HTTP version";
  }
  return std::nullopt;
}

std::optional<std::string_view> header_problem(const http::request_header<http::fields>& req) {
  const auto hosts = req.count(http::field::host);
  if (hosts == 0 && req.version() >= 11) return "an HTTP/1.1 request needs a Host header";
  if (hosts > 1) return "more than one Host header";
  if (req.count(http::field::content_length) > 0 && req.count(http::field::transfer_encoding) > 0) {
    return "Content-Length with Transfer-Encoding";
  }
  return std::nullopt;
}

}  // namespace sb::gateway
