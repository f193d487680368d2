// render_spec_test.cpp — RENDER parsing, bounds, interning and the per-spec frame.
#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "common/event.hpp"
#include "common/render_spec.hpp"
#include "gateway/event_delivery.hpp"

namespace sb::gateway {
namespace {

using common::render_spec;

common::result<std::shared_ptr<const render_spec>> parse(const nlohmann::json& j) {
  auto v = nlohmann::json::to_msgpack(j);
  auto oh = msgpack::unpack(reinterpret_cast<const char*>(v.data()), v.size());
  return render_spec::from_msgpack(oh.get());
}
std::shared_ptr<const std::string> event(const nlohmann::json& j) {
  auto v = nlohmann::json::to_msgpack(j);
  return std::make_shared<const std::string>(v.begin(), v.end());
}

TEST(RenderSpec, HandlersAreFoundByTypeWithDotsAsUnderscores) {
  auto s = parse({{"chat_message", {"message"}}, {"user_joined", {"who", "when"}}});
  ASSERT_TRUE(s);
  ASSERT_NE(s.value()->fields_for("chat.message"), nullptr);
  EXPECT_EQ(*s.value()->fields_for("chat_message"), (std::vector<std::string>{"message"}));
  EXPECT_EQ(*s.value()->fields_for("user.joined"), (std::vector<std::string>{"who", "when"}));
  EXPECT_EQ(s.value()->fields_for("other.thing"), nullptr);
  EXPECT_TRUE(parse(nullptr).value()->empty());
}

TEST(RenderSpec, EqualSpecsAreOneObject) {
  auto a = parse({{"chat_message", {"message"}}, {"b", nlohmann::json::array()}});
  auto b = parse({{"b", nlohmann::json::array()}, {"chat_message", {"message"}}});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.value().get(), b.value().get());
  auto c = parse({{"chat_message", {"text"}}});
  EXPECT_NE(a.value().get(), c.value().get());
}

TEST(RenderSpec, BoundsAndShapesAreChecked) {
  nlohmann::json many = nlohmann::json::object();
  for (int i = 0; i <= 64; ++i) many["h" + std::to_string(i)] = nlohmann::json::array();
  EXPECT_FALSE(parse(many));
  nlohmann::json fields = nlohmann::json::array();
  for (int i = 0; i <= 16; ++i) fields.push_back("f" + std::to_string(i));
  EXPECT_FALSE(parse({{"h", fields}}));
  EXPECT_FALSE(parse({{std::string(101, 'h'), {"a"}}}));
  EXPECT_FALSE(parse({{"h", {std::string(101, 'f')}}}));
  EXPECT_FALSE(parse({{"h", "message"}}));
  EXPECT_FALSE(parse({{"h", {1}}}));
  EXPECT_FALSE(parse(nlohmann::json::array({"h"})));
  EXPECT_FALSE(parse("h"));
}

TEST(EventDelivery, RendersOncePerSpecAndOnlyWithEveryField) {
  auto spec = parse({{"chat_message", {"message", "user"}}}).value();
  event_delivery d(event({{"type", "chat.message"}, {"user", "ann"}, {"message", "hi"}, {"extra", 1}}));
  auto f = d.frame_for(*spec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->substr(2), R"({"message":"hi","user":"ann"})");
  EXPECT_EQ(d.frame_for(*spec).get(), f.get()) << "shared by every member with the spec";
  event_delivery missing(event({{"type", "chat.message"}, {"message", "hi"}}));
  EXPECT_FALSE(missing.frame_for(*spec)) << "a field missing: the worker's handler runs";
  event_delivery other(event({{"type", "user.joined"}, {"message", "hi"}, {"user", "x"}}));
  EXPECT_FALSE(other.frame_for(*spec));
  EXPECT_FALSE(other.frame_for(*parse(nullptr).value()));
}

}  // namespace
}  // namespace sb::gateway
