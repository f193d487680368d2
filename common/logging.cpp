// logging.cpp — see logging.hpp.
#include "common/logging.hpp"

#include <array>

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

std::shared_ptr<spdlog::logger> log(const char* area) {
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

}  // namespace sb::common
