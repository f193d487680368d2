// fake_reply.hpp — hiredis replies built by hand for unit tests.
//
// An owned_reply holds a redisReply and everything it points to (its text,
// its elements), so a test can hand `get()` to a reply callback exactly as
// hiredis would. Built on the heap and never moved, so the pointers stay
// valid.
//
// Threading: the test's thread only.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

namespace sb::layerd::testing {

class owned_reply {
 public:
  using ptr = std::unique_ptr<owned_reply>;

  static ptr integer(long long v) {
    ptr p(new owned_reply);
    p->reply_.type = REDIS_REPLY_INTEGER;
    p->reply_.integer = v;
    return p;
  }
  static ptr string(std::string s) {
    ptr p(new owned_reply);
    p->text_ = std::move(s);
    p->reply_.type = REDIS_REPLY_STRING;
    p->reply_.str = p->text_.data();
    p->reply_.len = p->text_.size();
    return p;
  }
  static ptr nil() {
    ptr p(new owned_reply);
    p->reply_.type = REDIS_REPLY_NIL;
    return p;
  }
  static ptr error(std::string s) {
    ptr p = string(std::move(s));
    p->reply_.type = REDIS_REPLY_ERROR;
    return p;
  }
  static ptr array(std::vector<ptr> items) {
    ptr p(new owned_reply);
    p->items_ = std::move(items);
    for (auto& i : p->items_) p->pointers_.push_back(&i->reply_);
    p->reply_.type = REDIS_REPLY_ARRAY;
    p->reply_.elements = p->pointers_.size();
    p->reply_.element = p->pointers_.data();
    return p;
  }
  static ptr strings(const std::vector<std::string>& texts) {
    std::vector<ptr> items;
    for (const auto& t : texts) items.push_back(string(t));
    return array(std::move(items));
  }

  const ::redisReply* get() const { return &reply_; }

 private:
  owned_reply() = default;
  ::redisReply reply_{};
  std::string text_;
  std::vector<ptr> items_;
  std::vector<::redisReply*> pointers_;
};

}  // namespace sb::layerd::testing
