// fake_redis_commands.hpp — a redis_commands that records every command
// and lets the test answer each one, so layerd's units run in GoogleTest
// without a Redis server.
//
// Shards follow channels_redis' hash like the real ring. Replies are given
// with answer(), in any order, as owned_reply trees (fake_reply.hpp).
//
// Threading: the test's thread only.
#pragma once

#include <algorithm>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/redis_shard.hpp"
#include "layerd/redis_commands.hpp"
#include "tests/unit/layerd/fake_reply.hpp"

namespace sb::layerd::testing {

class fake_redis_commands final : public redis_commands {
 public:
  struct call {
    std::size_t shard = 0;
    argv args;
    reply_fn done;  // empty for fire-and-forget commands
    bool pop = false;
    bool deferred = false;  // given in wire form to deferred()
  };

  explicit fake_redis_commands(std::size_t shards = 1) : shards_(shards) {}

  bool up = true;  // false: every command is refused, as when Redis is away
  std::vector<std::size_t> down_shards;  // these hosts alone are away
  std::vector<call> calls;

  std::size_t size() const override { return shards_; }
  std::size_t index_of(std::string_view name) const override { return common::redis_shard(name, shards_); }
  bool connected(std::size_t shard) const override { return up && !is_down(shard); }
  bool command(std::size_t shard, const argv& args) override { return record(shard, args, nullptr, false); }
  bool command(std::size_t shard, const argv& args, reply_fn done) override {
    return record(shard, args, std::move(done), false);
  }
  bool deferred(std::size_t shard, std::string_view resp, reply_fn done) override {
    if (!record(shard, parse_resp(resp), std::move(done), false)) return false;
    calls.back().deferred = true;
    return true;
  }
  bool pop_connected(std::size_t) const override { return up; }

  // A request in wire form (`*N` then N `$len` bulk strings) back as its
  // arguments; a malformed one fails the test that made it.
  static argv parse_resp(std::string_view r) {
    argv out;
    auto number = [&r](char mark) {
      EXPECT_FALSE(r.empty()) << "truncated request";
      if (r.empty() || r[0] != mark) {
        ADD_FAILURE() << "expected '" << mark << "' in " << r;
        r = {};
        return std::size_t{0};
      }
      const auto end = r.find("\r\n");
      const auto n = static_cast<std::size_t>(std::stoull(std::string(r.substr(1, end - 1))));
      r.remove_prefix(end + 2);
      return n;
    };
    const std::size_t count = number('*');
    for (std::size_t i = 0; i < count && !r.empty(); ++i) {
      const std::size_t len = number('$');
      if (r.size() < len + 2 || r.substr(len, 2) != "\r\n") {
        ADD_FAILURE() << "bad bulk string";
        return out;
      }
      out.emplace_back(r.substr(0, len));
      r.remove_prefix(len + 2);
    }
    EXPECT_EQ(out.size(), count);
    EXPECT_TRUE(r.empty()) << "bytes after the request";
    return out;
  }
  bool pop(std::size_t shard, const argv& args, reply_fn done) override {
    return record(shard, args, std::move(done), true);
  }

  // Indexes of the calls whose command is `name` (ZCARD, EVAL...).
  std::vector<std::size_t> named(std::string_view name) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!calls[i].args.empty() && calls[i].args[0] == name) out.push_back(i);
    }
    return out;
  }
  // Answers call `i` (nullptr: the connection went away before the reply).
  void answer(std::size_t i, const owned_reply* reply) {
    auto done = std::move(calls.at(i).done);
    calls.at(i).done = nullptr;
    if (done) done(reply ? reply->get() : nullptr);
  }

 private:
  bool is_down(std::size_t shard) const {
    return std::find(down_shards.begin(), down_shards.end(), shard) != down_shards.end();
  }
  bool record(std::size_t shard, const argv& args, reply_fn done, bool pop) {
    if (!up || is_down(shard)) return false;
    calls.push_back({shard, args, std::move(done), pop});
    return true;
  }

  std::size_t shards_;
};

}  // namespace sb::layerd::testing
