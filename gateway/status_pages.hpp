// status_pages.hpp — the bodies of /healthz and /metrics.
//
// Kept apart from http_session, which only speaks HTTP: these read the
// gateway's counters and links and format them (JSON for /healthz, the
// Prometheus text format for /metrics, whose names dashboards scrape).
//
// Threading: any I/O thread; they read atomics and thread-safe getters only.
#pragma once

#include "proto/messages.hpp"

#include <string>

#include "gateway/server_context.hpp"

namespace sb::gateway {

// ok: whether the gateway takes connections (a layerd link up, not draining).
std::string health_json(const server_context& ctx, bool& ok);
std::string metrics_text(const server_context& ctx);

// GET /api/presence's body: {"group", "count", "users": [{"id", "name"[,
// "guest": true]}...], "truncated"} (docs/protocol.md, Presence).
std::string presence_json(const std::string& group, const proto::presence_state& st);

}  // namespace sb::gateway
