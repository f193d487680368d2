// redis_client.hpp — switchboard-cli's synchronous Redis connection.
//
// layerd never blocks on Redis (it uses hiredis' async API in its poll
// loop); a one-shot command-line tool has no loop to protect, so plain
// blocking hiredis with a connect and a command timeout is the simplest
// correct thing. Replies come back as owned pointers; Redis error replies
// and I/O failures come back as result errors, never exceptions.
//
// Single-threaded: one object, used by one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/redis_url.hpp"
#include "common/result.hpp"

struct redisContext;
struct redisReply;

namespace sb::cli {

class redis_client {
 public:
  struct reply_deleter {
    void operator()(redisReply* r) const;
  };
  using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

  // Connects (AUTH and SELECT as the URL says), bounded by timeout for the
  // connect and for every later command. A Sentinel URL is resolved first:
  // the sentinels are asked in turn for the master, which must answer ROLE
  // as master.
  static common::result<std::unique_ptr<redis_client>> open(const common::redis_url& url,
                                                                std::chrono::milliseconds timeout);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Runs one command; a Redis error reply is an error too.
  common::result<reply_ptr> command(const std::vector<std::string>& argv);

 private:
  static common::result<std::unique_ptr<redis_client>> open_at(const common::redis_url& url,
                                                                 const common::redis_endpoint& at,
                                                                 std::chrono::milliseconds timeout);
  explicit redis_client(redisContext* c, std::string where) : ctx_(c), where_(std::move(where)) {}
  redisContext* ctx_;
  std::string where_;  // host:port, for messages
};

}  // namespace sb::cli
