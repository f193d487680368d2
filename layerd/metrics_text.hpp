// metrics_text.hpp — layerd's /metrics page: every unit's counters and the
// Redis hosts' state in Prometheus' text format.
//
// It only reads: each unit keeps its own counters, and this class names
// them (metric names are an interface; keep them stable). The per-host
// series need the concrete redis_ring, not the command interface.
//
// Threading: render() on the layerd loop thread (the units are not
// thread-safe). Owned by layer_server; the units outlive it.
#pragma once

#include <string>

#include "layerd/django_bridge.hpp"
#include "layerd/membership.hpp"
#include "layerd/peers.hpp"
#include "layerd/redis_ring.hpp"
#include "layerd/room_history.hpp"
#include "layerd/router.hpp"

namespace sb::layerd {

class metrics_text {
 public:
  metrics_text(const peers& peers, const router& router, const membership& members, const django_bridge& bridge,
               const redis_ring& ring, const room_history& history)
      : peers_(peers), router_(router), members_(members), bridge_(bridge), ring_(ring), history_(history) {}

  std::string render() const;

 private:
  const peers& peers_;
  const router& router_;
  const membership& members_;
  const django_bridge& bridge_;
  const redis_ring& ring_;
  const room_history& history_;
};

}  // namespace sb::layerd
