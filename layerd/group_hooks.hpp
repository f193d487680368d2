// group_hooks.hpp — the one place where features attach to a group's life:
// a socket joins, leaves, the group is sent to, its members are rewritten.
//
// membership calls every attached hook that follows() the group, so a
// feature (pending notifications today; history and presence next) states
// once which groups it cares for and is told of each change, instead of
// being called from every handler that touches membership. Hooks run after
// memory and the Redis mirror have been updated. The calls are per group
// event, never per member of a fan-out.
//
// Threading: called on the layerd loop thread; the hook is owned by the
// layer_server and outlives membership's use of it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sb::layerd {

class group_hooks {
 public:
  // How a member came: a GROUP_ADD (a socket joining now) or a gateway's
  // SYNC (memberships it already had, restated after a reconnect).
  enum class join { add, sync };

  virtual ~group_hooks() = default;

  // Whether this hook wants to hear about `group` at all.
  virtual bool follows(std::string_view group) const = 0;

  // `channel` (a Switchboard socket, specific.<gateway>!<conn>) joined.
  virtual void joined(const std::string& group, const std::string& channel, join how) = 0;
  // `channel` left, or its gateway was forgotten.
  virtual void left(const std::string& group, const std::string& channel) = 0;
  // `channel`'s group moved to another layerd (a SYNC said so): nobody
  // left, the new owner has the member now. By default the same as left().
  virtual void moved_away(const std::string& group, const std::string& channel) { left(group, channel); }
  // A group_send of a checked event of `type` was fanned out.
  virtual void sent(const std::string& group, const std::string& event, std::string_view type) = 0;
  // The Redis hosts marked in `shards` came back or are re-leased: every
  // live member of `group` is written again.
  virtual void rewritten(const std::string& group, const std::vector<std::string>& channels,
                         const std::vector<bool>& shards) = 0;
};

}  // namespace sb::layerd
