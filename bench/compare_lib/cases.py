# compare_lib/cases.py — what bench/compare runs: the plans (scenario sizes
# for the default and --quick runs), the switchboard-bench command of each
# case, a worst-case time per case for the budget, and running one case
# against one configuration, its JSON lines tagged and written out.
#
# Why a module of its own: the plans are what a reader tunes and the bench
# command line is what must stay exactly the same between configurations;
# both are easier to check kept together and apart from process handling.
# Single-threaded; every bench run is bounded by its own --deadline.
import json
import os
import shlex
import subprocess
import time

from compare_lib.stacks import loadavg, log

# ------------------------------------------------------------------ plans
# Scenario sizes. "rates" are aggregate chat messages/s per fanout step; a
# step is sustainable when >= 99% is delivered with p99 <= 1 s, and the bench
# stops at the first step that is not. Deliveries/s = rate x members. The
# steps are fine at the low end (where the seed stops) and coarse above it.
PLANS = {
    "default": {
        "duration": 4, "drain": 2,
        "idle": {"clients": 1000, "room_size": 50, "settle": 2, "hold": 2},
        "fanout100": {"members": 100, "rates": [10, 20, 40, 80, 160, 320, 1280, 5120, 20480]},
        "fanout1000": {"members": 1000, "rates": [2, 4, 8, 16, 32, 128, 512, 2048, 6400]},
        "rooms": {"clients": 1000, "room_size": 10, "rate_per_client": 0.5},
        "churn": {"rate": 1000, "rooms": 100, "concurrency": 50, "handshake_timeout": 5},
        "budget": 570, "quiesce": 15,
    },
    "quick": {
        "duration": 1.5, "drain": 1,
        "idle": {"clients": 500, "room_size": 50, "settle": 1, "hold": 0},
        "fanout100": {"members": 100, "rates": [20, 80, 320, 5120, 20480]},
        "fanout1000": {"members": 1000, "rates": [4, 16, 64, 1024, 6400]},
        "rooms": {"clients": 500, "room_size": 10, "rate_per_client": 0.6},
        "churn": {"rate": 1000, "rooms": 100, "concurrency": 50, "handshake_timeout": 3},
        "budget": 110, "quiesce": 6,
    },
}
# Fan-out senders may send up to this many msg/s each, so the top rates need
# few senders; Switchboard's gateways run with a per-connection rate limit
# above it (stacks.GATEWAY_BENCH_ARGS). The seed has no rate limit at all.
MAX_SENDER_RATE = 200
CONNECT_CONCURRENCY = 16  # in-flight handshakes per bench worker: under daphne's listen backlog of 50
CONFIGS = ["sb1", "sb2", "seed"]
# a run that stopped for one of these never found the server's limit
OPEN_ENDED = ("rates_exhausted", "sender_rate_limit")
CONFIG_TITLES = {
    "sb1": "Switchboard 1 layerd + 1 gateway",
    "sb2": "Switchboard 1 layerd + 2 gateways",
    "seed": "seed: daphne + channels_redis (1 process)",
}



def bench_cases(plan):
    d, dr = plan["duration"], plan["drain"]
    i, r, c = plan["idle"], plan["rooms"], plan["churn"]
    cases = [
        # idle first: RSS per connection is only meaningful on a fresh server.
        ("idle", ["idle", "--clients", i["clients"], "--room-size", i["room_size"], "--settle", i["settle"],
                  "--duration", i["hold"]]),
    ]
    for key in ("fanout100", "fanout1000"):
        f = plan[key]
        cases.append((key, ["fanout", "--members", f["members"], "--rates", ",".join(map(str, f["rates"])),
                            "--max-sender-rate", MAX_SENDER_RATE, "--duration", d, "--drain", dr]))
    cases.append(("rooms", ["rooms", "--clients", r["clients"], "--room-size", r["room_size"],
                            "--rate-per-client", r["rate_per_client"], "--duration", d, "--drain", dr]))
    cases.append(("churn", ["churn", "--rate", c["rate"], "--rooms", c["rooms"], "--duration", d,
                            "--drain", dr, "--handshake-timeout", c["handshake_timeout"],
                            "--connect-concurrency", c["concurrency"]]))
    return cases


def estimate(plan, case):
    """Worst-case seconds a case takes (all fanout steps run)."""
    d, dr = plan["duration"], plan["drain"]
    if case == "idle":
        return 8 + plan["idle"]["settle"] + plan["idle"]["hold"]
    if case.startswith("fanout"):
        return 4 + len(plan[case]["rates"]) * (d + dr + 0.3)
    if case == "rooms":
        return 6 + d + dr
    return 3 + d + plan["churn"]["handshake_timeout"]


def run_bench(bench, stack, case, args, plan, time_left, out, meta):
    argv = [bench, *map(str, args)]
    for u in stack.urls:
        argv += ["--url", u]
    for pid in stack.pids.values():
        argv += ["--server-pid", str(pid)]
    # room names differ per configuration and case, so nothing is shared by accident
    argv += ["--room-prefix", f"cmp_{stack.name}_{case}", "--workers", "2",
             "--deadline", str(int(max(10, min(time_left, estimate(plan, case) * 2 + 10))))]
    if case != "churn":
        argv += ["--connect-concurrency", str(CONNECT_CONCURRENCY)]
    cmd = shlex.join(argv)
    meta["commands"].append(f"[{stack.name}] {cmd}")
    log(f"[{stack.name}] {case}: {cmd}")
    t0 = time.monotonic()
    errlog = open(os.path.join(stack.dir, f"bench-{case}.log"), "w")
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=errlog, text=True,
                           timeout=float(argv[argv.index("--deadline") + 1]) + 30)
        stdout, rc = r.stdout, r.returncode
    except subprocess.TimeoutExpired as e:
        stdout, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    finally:
        errlog.close()
    lines = []
    for raw in stdout.splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            log(f"[{stack.name}] {case}: not JSON from the bench: {raw[:200]}")
            continue
        lines.append(obj)
        out.write(json.dumps({"compare_config": stack.name, "compare_case": case, **obj}) + "\n")
    out.write(json.dumps({"compare_config": stack.name, "compare_case": case, "compare_event": "bench_exit",
                          "rc": rc, "seconds": round(time.monotonic() - t0, 2), "command": cmd,
                          "loadavg": loadavg()}) + "\n")
    out.flush()
    if rc != 0:
        log(f"[{stack.name}] {case}: switchboard-bench exited {rc} (see {errlog.name})")
    return lines
