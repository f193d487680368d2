# consumers/plan.py — what bench/consumers runs in each leg: the sizes of
# the default and --quick runs, the switchboard-bench command of each part,
# and running a part (one fan-out ladder, or a ladder of round-trip steps).
#
# Why a module of its own: the plan is what a reader tunes, and the bench
# command line must stay exactly the same from leg to leg, so both are kept
# together, apart from process handling (legs.py) and the table (report.py).
# Single-threaded; every bench run is bounded by its --deadline.
import json
import os
import shlex

import probe
from compare_lib.stacks import quiesce

# fanout: one room of "members", aggregate msg/s per step (deliveries/s =
# rate x members); a step is sustainable when >= 99% arrives with p99 <= 1 s,
# and the bench stops at the first that is not. Fine steps at the low end
# (where daphne and handler-in-worker stop), coarser above; then "fine" more
# steps between the last sustained rate and the first that was not.
# rt: "clients" sockets, each alone in its room, so every message is one
# receive -> consumer.receive -> group_send -> chat_message -> send round
# trip back to its sender; one bench run per aggregate rate, stopping at the
# first step that is not sustainable, then "fine" steps as for the fan-out;
# the first step's latency is the round trip at light load (that step runs
# "light_duration" seconds: 300 round trips at 50/s, so its p50 and p99
# are not the few samples of a 1.5 s step), the last sustained rate the
# per-process rate.
# pubfanout: the fan-out alone, from the same source in the legs that run it
# (builtin and fast): the room's first "senders" members are built-in chat
# sockets on /ws/pub/<room>/ (a route every Switchboard leg's gateway has,
# legs.PUB_ROUTE) and they alone send, so every message is a GROUP_SEND of
# the built-in chat into the room's group, crossing no worker, and the
# other members are the leg's own sockets (fast-path consumers in (a)).
# "senders" x plan.MAX_SENDER_RATE must reach the top rate.
PLANS = {
    "default": {
        "fanout": {"members": 1000, "rates": [1, 2, 4, 8, 16, 64, 256, 1024, 2048, 4096, 8192],
                   "duration": 1.5, "drain": 1, "fine": 2},
        "pubfanout": {"members": 1000, "senders": 41, "rates": [16, 64, 256, 1024, 2048, 4096, 8192],
                      "duration": 1.5, "drain": 1, "fine": 2},
        "rt": {"clients": 50, "rates": [50, 200, 400, 800, 1600, 3200], "duration": 1.5, "drain": 1, "fine": 2,
               "light_duration": 6},
        "budget": 350, "quiesce": 8,
    },
    "quick": {
        "fanout": {"members": 100, "rates": [2, 8, 32, 128, 512], "duration": 1, "drain": 1, "fine": 1},
        "pubfanout": {"members": 100, "senders": 5, "rates": [8, 32, 128, 512], "duration": 1, "drain": 1, "fine": 1},
        "rt": {"clients": 20, "rates": [20, 200, 800], "duration": 1, "drain": 1, "fine": 1, "light_duration": 2},
        "budget": 140, "quiesce": 4,
    },
}
MAX_SENDER_RATE = 200  # msg/s per fan-out sender; the gateways allow 1,000 (legs.GATEWAY_ARGS)
PUB_PATH = "/ws/pub/"  # pubfanout's senders: the built-in chat route legs.PUB_ROUTE serves
CONNECT_CONCURRENCY = 16  # in-flight handshakes per bench worker: under daphne's listen backlog of 50


def bench_argv(args, stack, leg, part, scenario_args, deadline):
    argv = [os.path.join(args.bin, "switchboard-bench"), *map(str, scenario_args)]
    for u in stack.urls:
        argv += ["--url", u]
    for pid in stack.pids.values():
        argv += ["--server-pid", str(pid)]
    return argv + ["--room-prefix", f"cons_{leg}_{part}", "--workers", "2",
                   "--connect-concurrency", str(CONNECT_CONCURRENCY), "--deadline", str(int(deadline))]


def record(out, leg, part, obj):
    out.write(json.dumps({"consumers_leg": leg, "consumers_part": part, **obj}) + "\n")
    out.flush()


def fanout_once(args, plan, stack, leg, kinds, out, log, commands, rates, part, key="fanout"):
    f = plan[key]
    deadline = 30 + len(rates) * (f["duration"] + f["drain"] + 1)
    source = ["--sender-path", PUB_PATH, "--senders", f["senders"]] if "senders" in f else []
    argv = bench_argv(args, stack, leg, part,
                      ["fanout", "--members", f["members"], "--rates", ",".join(f"{r:g}" for r in rates),
                       "--max-sender-rate", MAX_SENDER_RATE, "--duration", f["duration"], "--drain", f["drain"],
                       *source], deadline)
    commands.append(f"[{leg}] {shlex.join(argv)}")
    log(f"[{leg}] {part}, room of {f['members']}: {shlex.join(argv)}")
    rc, lines = probe.run(argv, kinds, os.path.join(stack.dir, f"bench-{part}.log"), deadline + 30)
    for obj in lines:
        record(out, leg, key, obj)
    if rc != 0:
        log(f"[{leg}] {part}: switchboard-bench exited {rc} (see {stack.dir}/bench-{part}.log)")
    steps = {o["params"]["rate"]: o["metrics"] for o in lines if o.get("phase") == "step"}
    summary = next((o["metrics"] for o in lines if o.get("phase") == "summary"), {})
    return rc, steps, summary


def run_fanout(args, plan, stack, leg, kinds, out, log, commands, time_left, key="fanout"):
    """The ladder, then (when it found a limit and time allows) "fine" steps
    between the last sustained rate and the first that was not, on fresh
    connections: the maximum is then a quarter of the gap coarse, not a whole one."""
    rc, steps, summary = fanout_once(args, plan, stack, leg, kinds, out, log, commands,
                                     plan[key]["rates"], key, key)
    best, failed = summary.get("at_rate") or 0, [r for r, m in steps.items() if not m.get("sustainable")]
    f = plan[key]
    n = f.get("fine", 0)
    if rc == 0 and best and failed and n and time_left() > 30 + n * (f["duration"] + f["drain"] + 1):
        top = min(failed)
        fine = [round(best * (top / best) ** (k / (n + 1)), 2) for k in range(1, n + 1)]
        quiesce(list(stack.pids.values()), plan["quiesce"])
        rc2, steps2, summary2 = fanout_once(args, plan, stack, leg, kinds, out, log, commands, fine,
                                            key + "fine", key)
        for r, m in steps2.items():
            m["fine"] = True
            steps.setdefault(r, m)
        if summary2.get("at_rate") and summary2["max_sustainable_deliveries_per_s"] > \
                summary["max_sustainable_deliveries_per_s"]:
            summary = {**summary, "max_sustainable_deliveries_per_s": summary2["max_sustainable_deliveries_per_s"],
                       "at_rate": summary2["at_rate"], "refined": fine}
        else:
            summary = {**summary, "refined": fine}
    return {"steps": steps, "summary": summary, "rc": rc}


def rt_step(args, plan, stack, leg, kinds, out, log, commands, rate):
    """One round-trip run at `rate` round trips/s; its metrics (with "sustainable"),
    or None when the bench failed."""
    r = plan["rt"]
    duration = r.get("light_duration", r["duration"]) if rate == r["rates"][0] else r["duration"]
    deadline = 20 + duration + r["drain"]
    argv = bench_argv(args, stack, leg, f"rt{round(rate)}",
                      ["rooms", "--clients", r["clients"], "--room-size", 1,
                       "--rate-per-client", f"{rate / r['clients']:g}",
                       "--duration", duration, "--drain", r["drain"]], deadline)
    commands.append(f"[{leg}] {shlex.join(argv)}")
    rc, lines = probe.run(argv, kinds, os.path.join(stack.dir, f"bench-rt{round(rate)}.log"), deadline + 30)
    for obj in lines:
        record(out, leg, "rt", obj)
    m = next((o["metrics"] for o in lines if o.get("phase") == "result"), None)
    if rc != 0 or m is None:
        log(f"[{leg}] round trip at {rate:g}/s: switchboard-bench exited {rc} (see {stack.dir})")
        return None
    m["sustainable"] = (m.get("delivery_ratio") or 0) >= 0.99 and (m.get("latency_p99_ms") or 1e9) <= 1000
    log(f"[{leg}] round trip at {rate:g}/s: {m.get('delivery_ratio')} delivered, "
        f"p50 {m.get('latency_p50_ms')} / p99 {m.get('latency_p99_ms')} ms")
    return m


def run_rt(args, plan, stack, leg, kinds, out, log, commands, time_left):
    """The round-trip ladder, stopping at the first step that is not sustainable,
    then "fine" steps between the last sustained rate and that one."""
    r = plan["rt"]
    steps = {}
    stop = "rates_exhausted"
    step_s = r["duration"] + r["drain"] + 10

    def ladder(rates):
        for rate in rates:
            if time_left() < step_s:
                log(f"[{leg}] round trip: {rate:g}/s and above skipped (time budget)")
                return "budget"
            m = rt_step(args, plan, stack, leg, kinds, out, log, commands, rate)
            if m is None:
                return "bench_failed"
            steps[rate] = m
            if not m["sustainable"]:
                return "delivery_ratio" if (m.get("delivery_ratio") or 0) < 0.99 else "p99"
        return "rates_exhausted"

    stop = ladder(r["rates"])
    ok = [x for x, m in steps.items() if m["sustainable"]]
    n = r.get("fine", 0)
    if stop in ("delivery_ratio", "p99") and ok and n > 0:
        best, top = max(ok), max(steps)
        quiesce(list(stack.pids.values()), plan["quiesce"])
        ladder([round(best * (top / best) ** (k / (n + 1)), 1) for k in range(1, n + 1)])
    return {"steps": steps, "stop": stop}
