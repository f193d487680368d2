// api_operations.hpp — what the HTTP API can do, on the loop thread:
// publish, edit membership, list groups and members, read the metrics.
//
// http_api (its own thread) posts each request here through the
// layer_server and gets the answer back through `done`. Membership edits
// are Redis-only, exactly as channels_redis' group_add/group_discard (the
// channel is usually a Django consumer); publishing goes through the same
// router as a peer's GROUP_SEND.
//
// Threading: call only on the layerd loop thread; `done` runs there too.
// Owned by layer_server; the units it uses outlive it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/channels_keys.hpp"
#include "layerd/django_bridge.hpp"
#include "layerd/membership.hpp"
#include "layerd/metrics_text.hpp"
#include "layerd/options.hpp"
#include "layerd/redis_commands.hpp"
#include "layerd/router.hpp"

namespace sb::layerd {

class api_operations {
 public:
  struct result {
    int status = 200;  // HTTP-like: 200, 400, 404, 429, 503
    std::string body;  // JSON, or Prometheus text for metrics()
  };
  using done_fn = std::function<void(result)>;

  api_operations(const layerd_config& cfg, redis_commands& redis, membership& members, router& router,
                 django_bridge& bridge, const metrics_text& metrics);

  void group_send(const std::string& group, const std::string& event, done_fn done);
  void send(const std::string& channel, const std::string& event, done_fn done);
  void group_add(const std::string& group, const std::string& channel, done_fn done);
  void group_discard(const std::string& group, const std::string& channel, done_fn done);
  void groups(done_fn done);
  void members(const std::string& group, done_fn done);
  void metrics(done_fn done) const;

 private:
  // One SCAN round of api groups(), then the next round or shard.
  struct scan;
  void do_scan(std::shared_ptr<scan> s, const std::string& cursor);

  int group_expiry_s_;
  redis_commands& redis_;
  membership& members_;
  router& router_;
  django_bridge& bridge_;
  const metrics_text& metrics_;
  common::channels_keys keys_;
};

}  // namespace sb::layerd
