// logging.cpp — see logging.hpp.
#include "common/logging.hpp"

#include <array>
#include <atomic>
#include <cstring>

#include <spdlog/sinks/stdout_sinks.h>

namespace sb::common {
namespace {

constexpr std::array<const char*, 7> areas = {"main", "http", "ws", "link", "layerd", "redis", "fanout"};

std::shared_ptr<spdlog::sinks::sink> shared_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return sink;
}

}  // namespace

bool setup_logging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; only accept "off" when asked for.
  if (lvl == spdlog::level::off && level != "off") return false;
  for (const char* name : areas) {
    auto logger = spdlog::get(name);
    if (!logger) {
      logger = std::make_shared<spdlog::logger>(name, shared_sink());
      spdlog::register_logger(logger);
    }
    logger->set_level(lvl);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%n] %v");
    logger->flush_on(spdlog::level::info);
  }
  return true;
}

namespace {

std::shared_ptr<spdlog::logger> find_or_make(const char* area) {
  auto logger = spdlog::get(area);
  if (!logger) {
    setup_logging("info");
    logger = spdlog::get(area);
    if (!logger) {  // an area not in the list: make it on the shared sink
      logger = std::make_shared<spdlog::logger>(area, shared_sink());
      spdlog::register_logger(logger);
    }
  }
  return logger;
}

}  // namespace

spdlog::logger* log(const char* area) {
  static std::array<std::atomic<spdlog::logger*>, areas.size()> known{};
  for (std::size_t i = 0; i < areas.size(); ++i) {
    if (area != areas[i] && std::strcmp(area, areas[i]) != 0) continue;
    if (auto* found = known[i].load(std::memory_order_acquire)) return found;
    auto* made = find_or_make(areas[i]).get();  // the registry keeps it alive
    known[i].store(made, std::memory_order_release);
    return made;
  }
  return find_or_make(area).get();
}

}  // namespace sb::common
