// pending.cpp — see pending.hpp.
#include "layerd/pending.hpp"

#include <cstdio>

#include "common/digest.hpp"
#include "layerd/channels_wire.hpp"

namespace sb::layerd::pending {
namespace {

// KEYS[1] the pending set. ARGV: score, member, lo, hi, oldest (exclusive
// bound), max, ttl. Tags: bytes 1-6 identify the send, 7-12 the inbox.
const char* const add_script = R"LUA(
local member = ARGV[2]
local event = string.sub(member, 13)
local inbox = string.sub(member, 7, 12)
local near = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[4], 'WITHSCORES')
for i = 1, #near, 2 do
  local m = near[i]
  if string.sub(m, 13) == event and (near[i + 1] == ARGV[1] or tonumber(near[i + 1]) == tonumber(ARGV[1])
                                     or string.sub(m, 7, 12) ~= inbox) then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[1], member)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[6]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1
)LUA";

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string django_tag(std::string_view score, std::string_view event, std::string_view inbox_key) {
  const auto send_id = common::sha1_digest(std::string(score).append(1, '\0').append(event));
  const auto inbox_id = common::sha1_digest(inbox_key);
  std::string tag(reinterpret_cast<const char*>(send_id.data()), 6);
  tag.append(reinterpret_cast<const char*>(inbox_id.data()), 6);
  return tag;
}

std::string random_tag(std::mt19937_64& rng) { return wire::random_prefix(rng); }

std::vector<std::string> add_argv(const std::string& key, const std::string& score, const std::string& member,
                                  double score_value, double window_s, double oldest, int max, int ttl_s) {
  const std::string lo = window_s > 0 ? exact(score_value - window_s) : score;
  const std::string hi = window_s > 0 ? exact(score_value + window_s) : score;
  return {"EVAL", add_script, "1", key, score, member, lo, hi, std::string("(").append(exact(oldest)),
          std::to_string(max), std::to_string(ttl_s)};
}

}  // namespace sb::layerd::pending
