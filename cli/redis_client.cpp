// redis_client.cpp — see redis_client.hpp.
#include "cli/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

namespace sb::cli {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

void redis_client::reply_deleter::operator()(redisReply* r) const { freeReplyObject(r); }

common::result<std::unique_ptr<redis_client>> redis_client::open(const common::redis_url& url,
                                                                          std::chrono::milliseconds timeout) {
  const std::string where = url.host + ":" + std::to_string(url.port);
  redisContext* c = redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(timeout));
  if (!c) return common::error{"cannot reach Redis at " + where + ": out of memory"};
  if (c->err) {
    std::string why = c->errstr;
    redisFree(c);
    return common::error{"cannot reach Redis at " + where + ": " + why};
  }
  if (redisSetTimeout(c, to_timeval(timeout)) != REDIS_OK) {
    redisFree(c);
    return common::error{"cannot set a timeout on the Redis connection to " + where};
  }
  std::unique_ptr<redis_client> client(new redis_client(c, where));
  if (!url.password.empty()) {
    if (auto r = client->command({"AUTH", url.password}); !r) return common::error{r.error_text()};
  }
  if (url.db != 0) {
    if (auto r = client->command({"SELECT", std::to_string(url.db)}); !r) return common::error{r.error_text()};
  }
  return client;
}

redis_client::~redis_client() { redisFree(ctx_); }

common::result<redis_client::reply_ptr> redis_client::command(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
  if (!raw) {
    return common::error{"Redis at " + where_ + " failed during " + argv.front() + ": " +
                         (ctx_->err ? std::string(ctx_->errstr) : std::string("no reply"))};
  }
  reply_ptr r(raw);
  if (r->type == REDIS_REPLY_ERROR) {
    return common::error{"Redis at " + where_ + " refused " + argv.front() + ": " + std::string(r->str, r->len)};
  }
  return r;
}

}  // namespace sb::cli
