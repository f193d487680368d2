// service_notify.hpp — tell systemd (Type=notify) where a daemon stands.
//
// READY=1 once a daemon serves (bound and running), STOPPING=1 when it
// starts to drain, STATUS=... for `systemctl status`. Outside systemd
// (no NOTIFY_SOCKET) every call is a no-op.
#pragma once

#include <string>

namespace sb::common {

void notify_ready(const std::string& status);
void notify_stopping(const std::string& status);
void notify_status(const std::string& status);

}  // namespace sb::common
