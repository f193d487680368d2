// redis_client.cpp — see redis_client.hpp.
#include "cli/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <optional>
#include <string_view>
#include <utility>

#include "common/sentinel_master.hpp"

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
  if (!url.is_sentinel()) return open_at(url, {url.host, url.port}, timeout);
  // A Sentinel shard: the sentinels in turn, the first to name a master
  // that is up wins (common/sentinel_master.hpp); that server must say it
  // is the master.
  std::string tried;
  for (const auto& s : url.sentinels) {
    common::redis_url at_sentinel;
    at_sentinel.password = url.sentinel_password;
    auto sentinel = open_at(at_sentinel, s, timeout);
    std::string why;
    if (!sentinel) {
      why = sentinel.error_text();
    } else if (auto r = sentinel.value()->command({"SENTINEL", "MASTER", url.master_name}); !r) {
      why = r.error_text();
    } else {
      const redisReply* rep = r.value().get();
      std::optional<common::redis_endpoint> master;
      if (rep->type == REDIS_REPLY_ARRAY && rep->elements % 2 == 0 &&
          rep->elements <= common::max_sentinel_reply_fields) {
        std::vector<std::pair<std::string_view, std::string_view>> fields;
        for (std::size_t i = 0; i + 1 < rep->elements; i += 2) {
          const redisReply* k = rep->element[i];
          const redisReply* v = rep->element[i + 1];
          if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) {
            fields.emplace_back(std::string_view(k->str, k->len), std::string_view(v->str, v->len));
          }
        }
        master = common::usable_sentinel_master(fields);
      }
      if (master) {
        auto client = open_at(url, *master, timeout);
        if (!client) return client;
        auto role = client.value()->command({"ROLE"});
        if (!role) return common::error{role.error_text()};
        const redisReply* rr = role.value().get();
        if (rr->type != REDIS_REPLY_ARRAY || rr->elements < 1 || rr->element[0]->type != REDIS_REPLY_STRING ||
            std::string_view(rr->element[0]->str, rr->element[0]->len) != "master") {
          return common::error{"Redis at " + common::describe(*master) + ", named master of " + url.master_name +
                               " by sentinel " + common::describe(s) + ", is not a master (failover under way?)"};
        }
        return client;
      }
      why = "master down or not a master";
    }
    tried.append(tried.empty() ? "" : "; ").append(common::describe(s)).append(": ").append(why);
  }
  return common::error{"no Redis master named " + url.master_name + " from the sentinels (" + tried + ")"};
}

common::result<std::unique_ptr<redis_client>> redis_client::open_at(const common::redis_url& url,
                                                                             const common::redis_endpoint& at,
                                                                             std::chrono::milliseconds timeout) {
  const std::string where = common::describe(at);
  redisContext* c = redisConnectWithTimeout(at.host.c_str(), at.port, to_timeval(timeout));
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
