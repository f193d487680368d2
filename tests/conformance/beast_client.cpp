// beast_client.cpp — a small synchronous Boost.Beast WebSocket client used by
// tests/integration/test_conformance.py as an independent implementation
// of RFC 6455 talking to a live switchboard-gateway.
//
//   sb_beast_ws_client <ws://host:port/path> <scenario>
//
// Scenarios (one line per result on stdout; the last line is DONE on
// success, or FAIL <why> with exit status 1):
//   echo      sends {"message": m} for each of the shared test messages (a
//             short Unicode text, 70,000 ASCII bytes, 70,000 bytes of
//             multi-byte UTF-8) and waits for each to come back:
//             "ECHO <i> <utf8 bytes> OK"; then closes normally:
//             "CLOSE <code the server answered with>".
//   ping      sends a ping with a payload and a chat message; prints
//             "PONG <hex payload> OK" when the matching pong arrived.
//   oversize  sends a 2,000-byte message; prints "CLOSE <code>" of the
//             server's close frame (the test expects 1009).
// A watchdog ends the process with status 3 ("FAIL timeout") after 15 s,
// so the caller's wait is always bounded even if the server never answers.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The messages every client in the suite sends (tests/integration/conformance_peer.py builds
// the same list to check what a bystander in the room receives).
std::vector<std::string> test_messages() {
  std::vector<std::string> m;
  m.push_back(
      "unicode: h\xc3\xa9llo w\xc3\xb6rld, \xe4\xbd\xa0\xe5\xa5\xbd, \xeb\xa1\x9c\xeb\xb9\x84, "
      "\xf0\x9f\x8e\x89\xf0\x9d\x84\x9e, \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d, \"quoted\" back\\slash tab\t.");
  m.push_back(std::string(70000, 'a'));
  std::string euros;
  for (int i = 0; i < 23333; ++i) euros += "\xe2\x82\xac";  // U+20AC, 3 bytes
  euros += "a";                                              // 70,000 bytes
  m.push_back(std::move(euros));
  return m;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void put_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A minimal JSON reader for what the gateway sends to a chat socket: an
// object whose values we only need when they are strings. Returns false
// if `text` is not {"k": v, ...}; sets `message` when key "message" has a
// string value.
struct json_reader {
  std::string_view s;
  std::size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool hex4(unsigned long& v) {
    if (i + 4 > s.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return false;
    }
    return true;
  }
  bool string(std::string& out) {
    ws();
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      const char c = s[i++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) return false;
      const char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned long cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned long lo = 0;
            if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return false;
            i += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  // Skips any JSON value that is not a string (numbers, literals, nested).
  bool skip_value() {
    ws();
    if (i < s.size() && s[i] == '"') {
      std::string ignored;
      return string(ignored);
    }
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        std::string ignored;
        if (!string(ignored)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (depth == 0) return true;
        --depth;
      }
      if (c == ',' && depth == 0) return true;
      ++i;
    }
    return false;
  }
  bool object(std::string& message, bool& has_message) {
    ws();
    if (i >= s.size() || s[i] != '{') return false;
    ++i;
    ws();
    if (i < s.size() && s[i] == '}') return true;
    for (;;) {
      std::string key;
      if (!string(key)) return false;
      ws();
      if (i >= s.size() || s[i] != ':') return false;
      ++i;
      ws();
      if (key == "message" && i < s.size() && s[i] == '"') {
        message.clear();
        if (!string(message)) return false;
        has_message = true;
      } else if (!skip_value()) {
        return false;
      }
      ws();
      if (i >= s.size()) return false;
      if (s[i] == '}') return true;
      if (s[i] != ',') return false;
      ++i;
    }
  }
};

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

[[noreturn]] void fail(const std::string& why) {
  std::cout << "FAIL " << why << std::endl;
  std::exit(1);
}

struct url_parts {
  std::string host, port, target;
};

url_parts parse_url(std::string_view url) {
  constexpr std::string_view scheme = "ws://";
  if (url.substr(0, scheme.size()) != scheme) fail("only ws:// URLs are supported");
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  url_parts p;
  p.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    p.host = std::string(authority);
    p.port = "80";
  } else {
    p.host = std::string(authority.substr(0, colon));
    p.port = std::string(authority.substr(colon + 1));
  }
  return p;
}

// Reads text messages until one is {"message": want}; others are skipped (bounded).
void await_echo(websocket::stream<tcp::socket>& ws, const std::string& want) {
  for (int n = 0; n < 1000; ++n) {
    beast::flat_buffer buf;
    ws.read(buf);
    if (!ws.got_text()) fail("a binary message from the server");
    const std::string text = beast::buffers_to_string(buf.data());
    json_reader r{text};
    std::string message;
    bool has = false;
    if (!r.object(message, has)) fail("not a JSON object: " + text.substr(0, 200));
    if (has && message == want) return;
  }
  fail("the echo never came");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: sb_beast_ws_client <ws://host:port/path> <echo|ping|oversize>\n";
    return 2;
  }
  const std::string scenario = argv[2];
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(15));
    std::cout << "FAIL timeout" << std::endl;
    std::_Exit(3);
  }).detach();

  try {
    const url_parts u = parse_url(argv[1]);
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    websocket::stream<tcp::socket> ws(ioc);
    asio::connect(ws.next_layer(), resolver.resolve(u.host, u.port));
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "sb-beast-conformance"); }));
    ws.read_message_max(16 * 1024 * 1024);
    ws.handshake(u.host + ":" + u.port, u.target);
    ws.text(true);
    std::cout << "OPEN" << std::endl;

    if (scenario == "echo") {
      const auto messages = test_messages();
      for (std::size_t i = 0; i < messages.size(); ++i) {
        ws.write(asio::buffer("{\"message\": " + json_quote(messages[i]) + "}"));
        await_echo(ws, messages[i]);
        std::cout << "ECHO " << i << " " << messages[i].size() << " OK" << std::endl;
      }
      ws.close(websocket::close_code::normal);
      // close() returns once the server's close frame has been read.
      std::cout << "CLOSE " << ws.reason().code << std::endl;
    } else if (scenario == "ping") {
      const std::string payload = "beast-ping-\xe2\x82\xac";
      std::string pong;
      bool got_pong = false;
      ws.control_callback([&](websocket::frame_type kind, beast::string_view data) {
        if (kind == websocket::frame_type::pong) {
          pong.assign(data.data(), data.size());
          got_pong = true;
        }
      });
      ws.ping(websocket::ping_data(payload.c_str()));
      // A synchronous read returns only for a message; the pong is handled
      // inside it. Send a chat message so there is one to return with.
      const std::string tag = "after the beast ping";
      ws.write(asio::buffer("{\"message\": " + json_quote(tag) + "}"));
      await_echo(ws, tag);
      for (int n = 0; n < 3 && !got_pong; ++n) {  // the pong may trail the echo
        ws.write(asio::buffer("{\"message\": " + json_quote(tag) + "}"));
        await_echo(ws, tag);
      }
      if (!got_pong) fail("no pong");
      if (pong != payload) fail("pong payload " + hex(pong) + " != " + hex(payload));
      std::cout << "PONG " << hex(pong) << " OK" << std::endl;
      ws.close(websocket::close_code::normal);
      std::cout << "CLOSE " << ws.reason().code << std::endl;
    } else if (scenario == "oversize") {
      ws.write(asio::buffer("{\"message\": " + json_quote(std::string(2000, 'x')) + "}"));
      for (int n = 0; n < 1000; ++n) {
        beast::flat_buffer buf;
        beast::error_code ec;
        ws.read(buf, ec);
        if (ec == websocket::error::closed) {
          std::cout << "CLOSE " << ws.reason().code << std::endl;
          std::cout << "DONE" << std::endl;
          return 0;
        }
        if (ec) fail("read: " + ec.message());
      }
      fail("the server never closed");
    } else {
      fail("unknown scenario " + scenario);
    }
    std::cout << "DONE" << std::endl;
    return 0;
  } catch (const beast::system_error& e) {
    fail(std::string("error: ") + e.code().message());
  } catch (const std::exception& e) {
    fail(std::string("error: ") + e.what());
  }
}
