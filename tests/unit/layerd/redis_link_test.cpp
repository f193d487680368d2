// redis_link_test.cpp — when a redis_link writes: a command that cannot
// wait at once, a deferred one (redis_commands::deferred) within
// limits::redis_defer_ms or with the next command that cannot wait, in
// order. Against a real redis-server started on loopback for the test
// (skipped, saying so, where none is installed: CI installs it).
#include "layerd/redis_link.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/limits.hpp"
#include "layerd/redis_commands.hpp"

namespace sb::layerd::testing {
namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class RedisLink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::system("command -v redis-server >/dev/null 2>&1") != 0) GTEST_SKIP() << "redis-server is not installed";
    port_ = free_port();
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      ::execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port.c_str(), "--save", "",
               "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    common::redis_url url;
    url.port = port_;
    link_ = std::make_unique<redis_link>(url);
    // Connected within 5 s (redis-server takes a moment to listen).
    const auto until = clock_type::now() + 5s;
    while (!link_->connected() && clock_type::now() < until) turn(10ms);
    ASSERT_TRUE(link_->connected()) << "redis-server on port " << port_ << " did not take the connection";
  }
  void TearDown() override {
    link_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // One turn of a layerd-like loop: tick, poll what the link asks for, hand it the events.
  void turn(std::chrono::milliseconds most) {
    const auto wait = std::clamp(link_->tick(clock_type::now()), std::chrono::milliseconds(0), most);
    if (link_->fd() < 0) {
      std::this_thread::sleep_for(wait);
      return;
    }
    zmq_pollitem_t item{nullptr, link_->fd(), link_->events(), 0};
    if (zmq_poll(&item, 1, static_cast<long>(wait.count())) > 0) link_->on_ready(item.revents);
  }

  bool pollout_wanted() const { return (link_->events() & ZMQ_POLLOUT) != 0; }

  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<redis_link> link_;
};

TEST_F(RedisLink, ADeferredCommandWaitsAMomentThenLeavesOnItsOwn) {
  std::vector<std::string> replies;
  clock_type::time_point answered{};
  const auto t0 = clock_type::now();
  ASSERT_TRUE(link_->deferred(resp_command({"SET", "k", "v1"}), [&](const ::redisReply* r) {
    answered = clock_type::now();
    replies.emplace_back(r ? std::string(r->str, r->len) : "none");
  }));
  EXPECT_FALSE(pollout_wanted()) << "a deferred command does not ask to write at once";
  EXPECT_TRUE(link_->busy(true));
  const auto until = t0 + 2s;
  while (replies.empty() && clock_type::now() < until) turn(100ms);
  ASSERT_EQ(replies, std::vector<std::string>{"OK"});
  const auto waited = answered - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(common::limits::redis_defer_ms) - 500us);
  EXPECT_LT(waited, 200ms) << "left when due, not when something else came along";
  EXPECT_FALSE(link_->busy(true));
}

TEST_F(RedisLink, ACommandThatCannotWaitTakesTheDeferredOnesAlongInOrder) {
  std::vector<std::string> order;
  auto note = [&order](std::string what) {
    return [&order, what](const ::redisReply* r) {
      std::string text = "none";
      if (r && r->type == REDIS_REPLY_STATUS) text.assign(r->str, r->len);
      if (r && r->type == REDIS_REPLY_STRING) text.assign(r->str, r->len);
      order.push_back(what + ":" + text);
    };
  };
  ASSERT_TRUE(link_->deferred(resp_command({"SET", "k", "1"}), note("set1")));
  ASSERT_TRUE(link_->deferred(resp_command({"APPEND", "k", "2"}), [&](const ::redisReply* r) {
    order.push_back("append:" + std::to_string(r ? r->integer : -1));
  }));
  EXPECT_FALSE(pollout_wanted());
  ASSERT_TRUE(link_->command({"GET", "k"}, note("get")));
  EXPECT_TRUE(pollout_wanted()) << "a command that cannot wait asks to write at once";
  const auto until = clock_type::now() + 2s;
  while (order.size() < 3 && clock_type::now() < until) turn(100ms);
  EXPECT_EQ(order, (std::vector<std::string>{"set1:OK", "append:2", "get:12"}));
}

TEST_F(RedisLink, HurryWritesWhatWaitsAtTheNextChance) {
  bool done = false;
  ASSERT_TRUE(link_->deferred(resp_command({"PING"}), [&](const ::redisReply* r) { done = r != nullptr; }));
  EXPECT_FALSE(pollout_wanted());
  link_->hurry();  // a stopping layerd: no more loop turns to wait for
  EXPECT_TRUE(pollout_wanted());
  const auto until = clock_type::now() + 2s;
  while (!done && clock_type::now() < until) turn(100ms);
  EXPECT_TRUE(done);
}

TEST(RespCommand, IsRedisRequestFormWithBinaryArguments) {
  EXPECT_EQ(resp_command({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  const std::string binary("a\r\n\0b", 5);
  EXPECT_EQ(resp_command({"SET", "", binary}), std::string("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n", 30));
  const std::string big(12345, 'x');
  EXPECT_EQ(resp_command({big}).substr(0, 12), "*1\r\n$12345\r\n");
}

}  // namespace
}  // namespace sb::layerd::testing
