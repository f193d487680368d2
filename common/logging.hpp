// logging.hpp — spdlog setup: one stderr sink, named loggers per area.
//
// Areas: main, http, ws, link, layerd, redis, fanout. Every logger shares
// the sink so lines interleave in order. Under systemd, stderr goes to the
// journal; tests capture it to a file.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace sb::common {

// Creates the named loggers at `level` ("trace".."off"). Returns false and
// leaves nothing half set up if the level name is unknown.
bool setup_logging(const std::string& level);

// The logger for an area, created on first use if setup_logging was not
// called. Loggers are never dropped, so the pointer stays valid. The seven
// areas are found without a lock (spdlog's registry takes one per lookup,
// and the I/O threads log from their hot paths).
spdlog::logger* log(const char* area);

}  // namespace sb::common
