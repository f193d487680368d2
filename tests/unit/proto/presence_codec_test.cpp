// presence_codec_test.cpp — proto 1.4's presence fields: GROUP_ADD's user,
// SYNC's users per channel, PRESENCE_GET / PRESENCE_STATE, and every
// malformed or oversized user decode must refuse.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "common/limits.hpp"
#include "proto/codec.hpp"
#include "tests/unit/proto/codec_test_util.hpp"

namespace sb::proto {
namespace {

// A GROUP_ADD whose fourth field is written by `user`.
std::string group_add_with(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& user) {
  return packed([&](auto& pk) {
    pk.pack_array(4);
    pk.pack(1);
    pk.pack(std::string("chat_x"));
    pk.pack(std::string("specific.gw!1"));
    user(pk);
  });
}

TEST(PresenceCodec, GroupAddCarriesTheUserAndWatch) {
  const presence_user alice{"u-1", "Alice", false, true};
  auto a = std::get<group_add>(round_trip(group_add{7, "chat_x", "specific.gw!1", alice}));
  ASSERT_TRUE(a.user);
  EXPECT_EQ(*a.user, alice);
  auto plain = std::get<group_add>(round_trip(group_add{8, "chat_x", "specific.gw!2"}));
  EXPECT_FALSE(plain.user);
  // Without a user the body stays 1.3's three fields, so an older layerd reads it.
  EXPECT_EQ(encode(group_add{8, "chat_x", "specific.gw!2"}),
            packed([](auto& pk) {
              pk.pack_array(3);
              pk.pack(8);
              pk.pack(std::string("chat_x"));
              pk.pack(std::string("specific.gw!2"));
            }));
}

TEST(PresenceCodec, SyncCarriesEachChannelsUserOrNil) {
  sync s;
  s.groups = {{"chat_a", {"specific.gw!1", "specific.gw!2"}}, {"notification_n", {"specific.gw!3"}}};
  s.users = {{presence_user{"guest-ab", "guest-ab", true, false}, std::nullopt}};
  s.moved = {"chat_gone"};
  auto back = std::get<sync>(round_trip(s));
  ASSERT_EQ(back.groups.size(), 2u);
  ASSERT_EQ(back.users.size(), 1u);  // the second entry carried none
  ASSERT_EQ(back.users[0].size(), 2u);
  EXPECT_EQ(back.users[0][0]->id, "guest-ab");
  EXPECT_TRUE(back.users[0][0]->guest);
  EXPECT_FALSE(back.users[0][1]);
  EXPECT_EQ(back.moved, std::vector<std::string>{"chat_gone"});
}

TEST(PresenceCodec, PresenceGetAndStateRoundTrip) {
  auto g = std::get<presence_get>(round_trip(presence_get{9, "chat_x"}));
  EXPECT_EQ(g.request, 9u);
  EXPECT_EQ(g.group, "chat_x");
  presence_state st{9, 3, {{"u-1", "Alice", false, false}, {"guest-1f", "guest-1f", true, false}}, true};
  auto back = std::get<presence_state>(round_trip(st));
  EXPECT_EQ(back.count, 3u);
  EXPECT_EQ(back.users, st.users);
  EXPECT_TRUE(back.truncated);
}

TEST(PresenceCodec, DecodeRefusesBadUsers) {
  namespace lim = common::limits;
  const auto k = static_cast<std::uint8_t>(kind::group_add);
  auto user = [](std::string id, std::string name, bool typed_guest = true) {
    return [=](auto& pk) {
      pk.pack_array(4);
      pk.pack(id);
      pk.pack(name);
      if (typed_guest) {
        pk.pack(false);
      } else {
        pk.pack(0);
      }
      pk.pack(true);
    };
  };
  EXPECT_TRUE(decode(k, group_add_with(user("u", "n"))));
  EXPECT_FALSE(decode(k, group_add_with(user("", "n"))));  // no id
  EXPECT_FALSE(decode(k, group_add_with(user(std::string(lim::max_user_id_bytes + 1, 'i'), "n"))));
  EXPECT_FALSE(decode(k, group_add_with(user("u", std::string(lim::max_user_name_bytes + 1, 'n')))));
  EXPECT_FALSE(decode(k, group_add_with(user("u", "n", false))));  // guest not a boolean
  EXPECT_FALSE(decode(k, group_add_with([](auto& pk) { pk.pack(std::string("alice")); })));  // not an array
  EXPECT_FALSE(decode(k, group_add_with([](auto& pk) {                                        // no watch
    pk.pack_array(3);
    pk.pack(std::string("u"));
    pk.pack(std::string("n"));
    pk.pack(true);
  })));
}

TEST(PresenceCodec, DecodeRefusesSyncUsersThatDoNotMatchTheChannels) {
  const auto k = static_cast<std::uint8_t>(kind::sync);
  EXPECT_FALSE(decode(k, packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack_array(4);
    pk.pack(std::string("chat_a"));
    pk.pack_array(2);
    pk.pack(std::string("specific.gw!1"));
    pk.pack(std::string("specific.gw!2"));
    pk.pack(0);
    pk.pack_array(1);  // one user for two channels
    pk.pack_nil();
  })));
  EXPECT_FALSE(decode(k, packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack_array(4);
    pk.pack(std::string("chat_a"));
    pk.pack_array(1);
    pk.pack(std::string("specific.gw!1"));
    pk.pack(0);
    pk.pack(std::string("not a list"));
  })));
}

TEST(PresenceCodec, DecodeRefusesMalformedPresenceMessages) {
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::presence_get), packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack(1);
  })));
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::presence_state), packed([](auto& pk) {
    pk.pack_array(4);
    pk.pack(1);
    pk.pack(1);
    pk.pack_array(1);
    pk.pack(std::string("alice"));  // a user is an array
    pk.pack(false);
  })));
}

}  // namespace
}  // namespace sb::proto
