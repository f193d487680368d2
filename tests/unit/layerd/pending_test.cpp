// pending_test.cpp — the tags and the add command behind pending
// notifications (layerd/pending.hpp); the script itself runs against a real
// Redis in tests/integration (test_notifications, test_redis_shards).
#include <gtest/gtest.h>

#include "layerd/pending.hpp"

namespace sb::layerd::pending {
namespace {

TEST(PendingTag, IsTheSameForEveryCopyOfOneSendFromOneInbox) {
  const auto t = django_tag("1700000000.5", "\x81\xa4type\xa6notify", "asgispecific.gw.1!");
  EXPECT_EQ(t.size(), tag_bytes);
  EXPECT_EQ(t, django_tag("1700000000.5", "\x81\xa4type\xa6notify", "asgispecific.gw.1!"));
}

TEST(PendingTag, TellsSendsAndInboxesApart) {
  const std::string event = "\x81\xa4type\xa6notify";
  const auto a = django_tag("1700000000.5", event, "asgispecific.gw.1!");
  const auto other_inbox = django_tag("1700000000.5", event, "asgispecific.gw.2!");
  const auto other_send = django_tag("1700000000.75", event, "asgispecific.gw.1!");
  EXPECT_EQ(a.substr(0, 6), other_inbox.substr(0, 6));  // same send
  EXPECT_NE(a.substr(6), other_inbox.substr(6));        // another inbox
  EXPECT_NE(a.substr(0, 6), other_send.substr(0, 6));
  EXPECT_EQ(a.substr(6), other_send.substr(6));
}

TEST(PendingAdd, LooksOnlyAtTheSameScoreWithoutAWindow) {
  const auto argv = add_argv("asgi:pending:notification_x", "1700000000.5", "m", 1700000000.5, 0, 1699913600.25,
                             100, 86400);
  ASSERT_EQ(argv.size(), 11u);
  EXPECT_EQ(argv[0], "EVAL");
  EXPECT_EQ(argv[2], "1");
  EXPECT_EQ(argv[3], "asgi:pending:notification_x");
  EXPECT_EQ(argv[4], "1700000000.5");
  EXPECT_EQ(argv[6], "1700000000.5");  // lo
  EXPECT_EQ(argv[7], "1700000000.5");  // hi
  EXPECT_EQ(argv[8], "(1699913600.25");
  EXPECT_EQ(argv[9], "100");
  EXPECT_EQ(argv[10], "86400");
}

TEST(PendingAdd, WidensToTheWindowWithSeveralHosts) {
  const auto argv = add_argv("k", "1700000000.5", "m", 1700000000.5, 1.0, 0, 3, 60);
  EXPECT_EQ(argv[6], "1699999999.5");
  EXPECT_EQ(argv[7], "1700000001.5");
}

}  // namespace
}  // namespace sb::layerd::pending
