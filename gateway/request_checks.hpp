// request_checks.hpp — the checks a request passes before its body is read.
//
// http_session reads a request in steps (docs/protocol.md, HTTP): the
// request line, then the header, then any body. Beast parses; these pure
// functions add what Beast leaves open, so a request that breaks HTTP/1.1
// is refused with 400 as soon as the part that breaks it has arrived.
// Pure, so the HTTP fuzz target (tests/fuzz/http_request_fuzz.cpp) runs
// exactly what the gateway runs.
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace sb::gateway {

// What is wrong with the request line at the front of `buffered`, if it
// is complete (ends with LF) and broken: Beast waits for more input when a
// line lacks the HTTP version, so that case is caught here.
std::optional<std::string_view> request_line_problem(std::string_view buffered);

// What is wrong with a parsed request header, if anything: an HTTP/1.1
// request without Host, two Host headers, Content-Length with
// Transfer-Encoding (Beast itself refuses two different Content-Lengths
// and Content-Length with chunked).
std::optional<std::string_view> header_problem(
    const boost::beast::http::request_header<boost::beast::http::fields>& header);

}  // namespace sb::gateway
