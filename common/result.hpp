// result.hpp — a value or an error message, for decoding untrusted input.
//
// Decoders of browser JSON, ZeroMQ frames and Redis replies return this
// instead of throwing (docs/architecture.md, rule 8: exceptions never leave proto/ or
// common/).
// C++20 has no std::expected, so this is the small subset we need.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sb::common {

struct error {
  std::string text;
};

template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}            // NOLINT: implicit on purpose
  result(error e) : v_(std::move(e)) {}                // NOLINT
  explicit operator bool() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const std::string& error_text() const { return std::get<1>(v_).text; }

 private:
  std::variant<T, error> v_;
};

}  // namespace sb::common
