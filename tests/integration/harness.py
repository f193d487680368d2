# Integration-test harness: starts real redis-server, switchboard-layerd and
# switchboard-gateway processes on loopback and always tears them down.
#
# Why it is shaped this way: every test owns its processes (fresh ports, its
# own temp dir, its own Redis), so a crash or a hang in one test cannot leak
# into the next. Each process runs in its own process group and is killed by
# group in a cleanup that runs even when the test fails; its stderr goes to a
# temp file that is printed when the test fails. Every wait has a deadline
# and every polling loop a bounded number of rounds. Stdlib only, plus
# Debian's python3-websockets (10.4) and python3-zmq.
#
# The harness is three modules, re-exported here so a test imports one name:
# harness_base (paths, bounded waits, name rules, a tiny Redis client),
# harness_processes (redis-server, layerd, gateways, clusters, the test case
# base) and harness_clients (WebSocket clients, raw frames).
from harness_base import *  # noqa: F401,F403
from harness_processes import *  # noqa: F401,F403
from harness_clients import *  # noqa: F401,F403
