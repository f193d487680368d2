// worker_codec_test.cpp — proto 1.5's worker fields: GROUP_ADD's and SYNC's
// worker of a member, GROUP_DELIVER's forwarded conns, and the malformed
// or oversized workers decode must refuse.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "common/limits.hpp"
#include "proto/codec.hpp"
#include "tests/unit/proto/codec_test_util.hpp"

namespace sb::proto {
namespace {

const worker_route chat_worker{"specific.w1!abc", std::string("\x81\xac" "chat_message" "\x91\xa7" "message")};

TEST(WorkerCodec, GroupAddCarriesTheWorkerWithOrWithoutAUser) {
  auto a = std::get<group_add>(round_trip(group_add{7, "chat_x", "specific.gw!1", std::nullopt, chat_worker}));
  ASSERT_TRUE(a.worker);
  EXPECT_EQ(*a.worker, chat_worker);
  EXPECT_FALSE(a.user);
  const presence_user alice{"u-1", "Alice", false, false};
  auto b = std::get<group_add>(round_trip(group_add{8, "chat_x", "specific.gw!2", alice, chat_worker}));
  ASSERT_TRUE(b.user);
  EXPECT_EQ(*b.user, alice);
  ASSERT_TRUE(b.worker);
  EXPECT_EQ(b.worker->worker, "specific.w1!abc");
  // Without a worker the body stays 1.4's, so an older layerd reads it.
  auto plain = encode(group_add{9, "chat_x", "specific.gw!3", alice});
  EXPECT_EQ(plain, encode(group_add{9, "chat_x", "specific.gw!3", alice, std::nullopt}));
  EXPECT_FALSE(std::get<group_add>(round_trip(group_add{9, "chat_x", "specific.gw!3", alice})).worker);
}

TEST(WorkerCodec, DecodeRefusesABadWorker) {
  auto with = [](const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& worker) {
    return packed([&](auto& pk) {
      pk.pack_array(5);
      pk.pack(1);
      pk.pack(std::string("chat_x"));
      pk.pack(std::string("specific.gw!1"));
      pk.pack_nil();
      worker(pk);
    });
  };
  auto refused = [](const std::string& body) { return !decode(static_cast<std::uint8_t>(kind::group_add), body); };
  EXPECT_FALSE(refused(with([](auto& pk) {
    pk.pack_array(2);
    pk.pack(std::string("specific.w!1"));
    pk.pack_bin(0);
  })));
  EXPECT_TRUE(refused(with([](auto& pk) { pk.pack(std::string("specific.w!1")); })));  // not an array
  EXPECT_TRUE(refused(with([](auto& pk) {  // a plain channel: not a process' own
    pk.pack_array(2);
    pk.pack(std::string("chat"));
    pk.pack_bin(0);
  })));
  EXPECT_TRUE(refused(with([](auto& pk) {  // a name over the channel bound
    pk.pack_array(2);
    pk.pack("specific.w!" + std::string(common::limits::max_channel_name, 'a'));
    pk.pack_bin(0);
  })));
  EXPECT_TRUE(refused(with([](auto& pk) {  // render as str, not bin
    pk.pack_array(2);
    pk.pack(std::string("specific.w!1"));
    pk.pack(std::string("x"));
  })));
  EXPECT_TRUE(refused(with([](auto& pk) {  // a render over its bound
    pk.pack_array(2);
    pk.pack(std::string("specific.w!1"));
    const std::string big(common::limits::max_render_bytes + 1, 'x');
    pk.pack_bin(static_cast<std::uint32_t>(big.size()));
    pk.pack_bin_body(big.data(), static_cast<std::uint32_t>(big.size()));
  })));
}

TEST(WorkerCodec, SyncCarriesEachChannelsWorkerOrNil) {
  sync s;
  s.groups = {{"chat_a", {"specific.gw!1", "specific.gw!2"}}, {"chat_b", {"specific.gw!3"}}};
  s.users = {{}, {presence_user{"u-3", "C", false, false}}};
  s.workers = {{chat_worker, std::nullopt}};
  auto back = std::get<sync>(round_trip(s));
  ASSERT_EQ(back.groups.size(), 2u);
  ASSERT_EQ(back.workers.size(), 1u);  // the second entry carried none
  ASSERT_EQ(back.workers[0].size(), 2u);
  EXPECT_EQ(*back.workers[0][0], chat_worker);
  EXPECT_FALSE(back.workers[0][1]);
  // The first entry's users travelled as nils beside its workers; the second's as they were.
  ASSERT_EQ(back.users.size(), 2u);
  EXPECT_FALSE(back.users[0][0]);
  EXPECT_FALSE(back.users[0][1]);
  EXPECT_EQ(back.users[1][0]->id, "u-3");
}

TEST(WorkerCodec, DecodeRefusesSyncWorkersThatDoNotMatchTheChannels) {
  auto body = packed([](auto& pk) {
    pk.pack_array(1);
    pk.pack_array(5);
    pk.pack(std::string("chat_a"));
    pk.pack_array(2);
    pk.pack(std::string("specific.gw!1"));
    pk.pack(std::string("specific.gw!2"));
    pk.pack(0);
    pk.pack_array(2);
    pk.pack_nil();
    pk.pack_nil();
    pk.pack_array(1);
    pk.pack_nil();
  });
  EXPECT_FALSE(decode(static_cast<std::uint8_t>(kind::sync), body));
}

TEST(WorkerCodec, GroupDeliverCarriesTheForwardedConns) {
  group_deliver d{"chat_x", "\x81\xa4type\xa1x", "", 0, {"1a", "2b"}};
  auto back = std::get<group_deliver>(round_trip(d));
  EXPECT_EQ(back.forwarded, (std::vector<std::string>{"1a", "2b"}));
  EXPECT_EQ(back.origin, "");
  group_deliver numbered{"chat_x", "\x81\xa4type\xa1x", "gw.1", 5, {"3c"}};
  auto n = std::get<group_deliver>(round_trip(numbered));
  EXPECT_EQ(n.origin, "gw.1");
  EXPECT_EQ(n.id, 5u);
  EXPECT_EQ(n.forwarded, std::vector<std::string>{"3c"});
  // None forwarded: 1.4's body.
  EXPECT_TRUE(std::get<group_deliver>(round_trip(group_deliver{"chat_x", "\x81\xa4type\xa1x", "gw.1", 6})).forwarded.empty());
  EXPECT_EQ(encode(group_deliver{"chat_x", "e", "gw.1", 6}), encode(group_deliver{"chat_x", "e", "gw.1", 6, {}}));
}

}  // namespace
}  // namespace sb::proto
