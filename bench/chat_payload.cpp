// chat_payload.cpp — see chat_payload.hpp.
#include "bench/chat_payload.hpp"

#include <charconv>
#include <cstring>
#include <ctime>

namespace sb::bench {

namespace {

constexpr std::string_view prefix = R"({"message":")";
constexpr std::string_view tag = "sb1:";

template <class T>
bool take_number(const char*& p, const char* end, T& v, char stop) {
  auto r = std::from_chars(p, end, v);
  if (r.ec != std::errc{} || r.ptr == end || *r.ptr != stop) return false;
  p = r.ptr + 1;
  return true;
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::size_t encode_chat_text(const chat_payload& p, std::size_t pad, char* out, std::size_t out_size) {
  if (out_size < max_chat_text + pad) return 0;
  char* o = out;
  char* const end = out + out_size;
  std::memcpy(o, prefix.data(), prefix.size());
  o += prefix.size();
  std::memcpy(o, tag.data(), tag.size());
  o += tag.size();
  o = std::to_chars(o, end, p.step).ptr;
  *o++ = ':';
  o = std::to_chars(o, end, p.slot).ptr;
  *o++ = ':';
  o = std::to_chars(o, end, p.seq).ptr;
  *o++ = ':';
  o = std::to_chars(o, end, p.sender).ptr;
  *o++ = ':';
  o = std::to_chars(o, end, p.sent_ns).ptr;
  *o++ = ':';
  std::memset(o, '.', pad);
  o += pad;
  *o++ = '"';
  *o++ = '}';
  return static_cast<std::size_t>(o - out);
}

chat_parse parse_chat_text(std::string_view text, chat_payload& p) {
  // The gateway writes {"message":"..."}; tolerate a space after the colon.
  auto key = text.find("\"message\"");
  if (key == std::string_view::npos) {
    return text.find("\"type\":\"error\"") != std::string_view::npos ? chat_parse::error_frame
                                                                      : chat_parse::not_ours;
  }
  std::size_t i = key + 9;
  while (i < text.size() && (text[i] == ' ' || text[i] == ':')) ++i;
  if (i >= text.size() || text[i] != '"') return chat_parse::not_ours;
  ++i;
  if (text.substr(i, tag.size()) != tag) return chat_parse::not_ours;
  const char* c = text.data() + i + tag.size();
  const char* const end = text.data() + text.size();
  if (!take_number(c, end, p.step, ':') || !take_number(c, end, p.slot, ':') || !take_number(c, end, p.seq, ':') ||
      !take_number(c, end, p.sender, ':') || !take_number(c, end, p.sent_ns, ':'))
    return chat_parse::not_ours;
  return chat_parse::ours;
}

}  // namespace sb::bench
