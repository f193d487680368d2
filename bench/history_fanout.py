#!/usr/bin/python3
# history_fanout.py — what room history costs the fan-out end to end: the
# maximum sustainable deliveries/s and the p99 at half of it, for rooms of
# --members, with history off and on, back to back in one run.
#
# Why: history stamps every chat message on the room's layerd before the
# fan-out and XADDs it to Redis (docs/protocol.md, Room history); the target
# is that the fan-out keeps at least 90% of its maximum with it on. On a
# noisy shared machine only a ratio within one run means anything, so each
# room size runs off, on, off, on... (--rounds) through bench/stack_run (a
# private redis-server, layerd, --gateways gateways on loopback; the bench's
# `fanout` scenario stepping the rate up until the delivery ratio or the
# p99 fails), and the lines report each leg and the on/off ratio of the
# medians. Doubling steps would show a 10% loss as 50% or none, so the rate
# climbs in even steps around the maximum (--steps MEMBERS=FIRST:LAST:STEP,
# per room size; defaults around this machine's maxima, bench/RESULTS.md).
# CPU is that of every server process (gateways, layerd, Redis), per
# delivery, from the bench's own report; "steps" lists each step's
# [rate, delivery ratio, p99 ms, server µs per delivery, machine µs per
# delivery (every process and the kernel: on two shared cores, what bounds
# the fan-out)]. Bounded: each leg is one stack_run
# with fixed steps and duration.
#
# Each leg first runs --fixed (about half the maximum): its p99 and server
# CPU per delivery compare the two settings at one rate both carry.
#
# --saturate MEMBERS=RATE measures the maximum another way, with less noise
# than a ladder: every leg offers RATE (well above the maximum) --repeats
# times, and each step's throughput is what the servers got through while
# saturated: deliveries / (duration + the last message's latency). Under a
# steady overload the backlog only grows, so the servers were busy from the
# step's start until its last message arrived, and nothing of the ladder's
# step size or of a p99 threshold enters the figure. Legs alternate
# off, on, on, off, ... so a drift of the machine falls on both settings.
#
# usage: bench/history_fanout.py [--members 100,1000] [--rounds 1] [--gateways 2] [--duration 3]
#        [--fixed MEMBERS=RATE] [--steps MEMBERS=FIRST:LAST:STEP]
#        [--saturate MEMBERS=RATE [--repeats 3]]
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def leg(members, history, gateways, duration, rates, extra=()):
    # Above the default per-socket rate, so a room of 100 can reach the servers' maximum.
    cmd = [os.path.join(ROOT, "bench", "stack_run"), "--gateways", str(gateways), "--measure", "all",
           "--gateway-args", "--rate-limit 1000 --rate-burst 1000"]
    if history == "off":
        cmd += ["--layerd-args", "--history off"]
    cmd += ["--", "fanout", "--members", str(members), "--rates", ",".join(str(r) for r in rates),
            "--max-sender-rate", "500", "--duration", str(duration), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    summary, steps = None, []
    for line in out.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("phase") == "summary" or "max_sustainable_deliveries_per_s" in json.dumps(doc):
            summary = doc
        if "step" in doc:
            steps.append(doc)
    if summary is None:
        raise RuntimeError(f"no summary from {' '.join(cmd)}: {out.stderr[-2000:]}")
    return {"command": " ".join(cmd), "summary": summary, "steps": steps}


def find(doc, key):
    """The first value of `key` anywhere in a JSON document."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        for v in doc.values():
            r = find(v, key)
            if r is not None:
                return r
    if isinstance(doc, list):
        for v in doc:
            r = find(v, key)
            if r is not None:
                return r
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", default="100,1000")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--gateways", type=int, default=2)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--fixed", action="append", default=[],
                    help="MEMBERS=RATE msg/s run first in every leg, about half the maximum, for the p99 and the "
                         "CPU per delivery at one rate both legs carry (default 100=10000, 1000=2400)")
    ap.add_argument("--steps", action="append", default=[],
                    help="MEMBERS=FIRST:LAST:STEP msg/s (default 100=12800:38400:3200, 1000=2400:9600:800)")
    ap.add_argument("--saturate", action="append", default=[],
                    help="MEMBERS=RATE msg/s, above the maximum: measure the saturated throughput instead of a ladder")
    ap.add_argument("--repeats", type=int, default=3, help="--saturate: steps at RATE per leg")
    a = ap.parse_args()
    steps = {100: (12800, 38400, 3200), 1000: (2400, 9600, 800)}
    for spec in a.steps:
        m, r = spec.split("=")
        steps[int(m)] = tuple(int(x) for x in r.split(":"))
    fixed = {100: 10000, 1000: 2400}
    for spec in a.fixed:
        m, r = spec.split("=")
        fixed[int(m)] = int(r)
    if not 1 <= a.rounds <= 10 or not 1 <= a.gateways <= 4 or not 1 <= a.duration <= 30 or not 1 <= a.repeats <= 10:
        sys.exit("history_fanout: --rounds 1..10, --gateways 1..4, --duration 1..30, --repeats 1..10")
    if a.saturate:
        for spec in a.saturate:
            m, r = spec.split("=")
            saturate(int(m), int(r), fixed.get(int(m)), a)
        return
    for members in (int(m) for m in a.members.split(",")):
        legs = {"off": [], "on": []}
        for _ in range(a.rounds):
            for history in ("off", "on"):
                first, last, step = steps.get(members, (100, 6400, 100))
                ramp = list(range(first, last + 1, step))[:40]
                at = fixed.get(members, ramp[0])
                r = leg(members, history, a.gateways, a.duration, sorted({at, *ramp}))
                s = r["summary"]
                fixed_step = next((st for st in r["steps"] if find(st, "rate") == at), {})
                line = {"bench": "history_fanout", "members": members, "history": history,
                        "max_deliveries_per_s": find(s, "max_sustainable_deliveries_per_s"),
                        "at_rate": find(s, "at_rate"), "max_is_lower_bound": find(s, "max_is_lower_bound"),
                        "stopped_because": find(s, "stopped_because"),
                        "fixed_rate": at,
                        "fixed_delivery_ratio": find(fixed_step, "delivery_ratio"),
                        "fixed_p99_ms": find(fixed_step, "latency_p99_ms"),
                        "fixed_server_cpu_us_per_delivery": find(fixed_step, "server_cpu_us_per_delivery"),
                        "fixed_machine_cpu_us_per_delivery": find(fixed_step, "machine_cpu_us_per_delivery"),
                        "server_cpu_us_per_delivery_at_max":
                            next((find(st, "server_cpu_us_per_delivery") for st in r["steps"]
                                  if find(st, "rate") == find(s, "at_rate")), None),
                        "steps": [[find(st, "rate"), find(st, "delivery_ratio"), find(st, "latency_p99_ms"),
                                   find(st, "server_cpu_us_per_delivery"), find(st, "machine_cpu_us_per_delivery")]
                                  for st in r["steps"]],
                        "command": r["command"]}
                legs[history].append(line)
                print(json.dumps(line), flush=True)
        def median(key):
            vals = {h: [l[key] for l in legs[h] if l[key] is not None] for h in legs}
            return {h: statistics.median(v) if v else None for h, v in vals.items()}

        def ratio(m):
            return round(m["on"] / m["off"], 3) if m["on"] is not None and m["off"] else None
        med = {h: statistics.median(l["max_deliveries_per_s"] or 0 for l in legs[h]) for h in legs}
        p99, cpu = median("fixed_p99_ms"), median("fixed_server_cpu_us_per_delivery")
        machine = median("fixed_machine_cpu_us_per_delivery")
        print(json.dumps({"bench": "history_fanout_ratio", "members": members,
                          "max_deliveries_on_over_off": ratio(med), "median_max_deliveries_per_s": med,
                          "fixed_rate": fixed.get(members), "median_fixed_p99_ms": p99,
                          "fixed_p99_on_over_off": ratio(p99), "median_fixed_server_cpu_us_per_delivery": cpu,
                          "fixed_cpu_on_over_off": ratio(cpu), "median_fixed_machine_cpu_us_per_delivery": machine,
                          "fixed_machine_cpu_on_over_off": ratio(machine)}), flush=True)


def bench_share(step):
    """The bench clients' CPU µs per delivery, over the window the servers' is measured in."""
    server, cores, bench = (find(step, k) for k in ("server_cpu_us_per_delivery", "server_cpu_cores", "bench_cpu_cores"))
    return round(server * bench / cores, 4) if server and cores and bench is not None else None


def saturate(members, rate, fixed_rate, a):
    """Legs off/on alternating (off on, on off, ...), each a fixed step then
    --repeats steps at `rate`; one line per leg, then the ratio of medians."""
    per = {"off": [], "on": []}
    fixed = {"off": [], "on": []}
    cpus = {h: {"server": [], "bench": [], "machine": []} for h in ("off", "on")}
    # Time enough after each overloaded step for its backlog to drain, so
    # nothing late is counted in the next step.
    extra = ("--all-steps", "--drain", str(max(2.0, a.duration)))
    for rnd in range(a.rounds):
        for history in (("off", "on") if rnd % 2 == 0 else ("on", "off")):
            rates = ([fixed_rate] if fixed_rate else []) + [rate] * a.repeats
            r = leg(members, history, a.gateways, a.duration, rates, extra)
            steps = r["steps"]
            if fixed_rate and steps:
                fixed[history].append(find(steps[0], "latency_p99_ms"))
                steps = steps[1:]
            got = []
            for st in steps:
                delivered = find(st, "delivered") or 0
                busy = find(st, "duration_s") + (find(st, "latency_max_ms") or 0) / 1000
                got.append(round(delivered / busy))
            per[history] += got
            for k in cpus[history]:
                cpus[history][k] += [v for v in ((bench_share(st) if k == "bench" else find(st, f"{k}_cpu_us_per_delivery"))
                                                 for st in steps) if v is not None]
            print(json.dumps({"bench": "history_fanout_saturated", "members": members, "history": history,
                              "round": rnd + 1, "rate": rate, "saturated_deliveries_per_s": got,
                              "delivery_ratio": [find(st, "delivery_ratio") for st in steps],
                              "latency_max_ms": [find(st, "latency_max_ms") for st in steps],
                              "machine_cpu_us_per_delivery": [find(st, "machine_cpu_us_per_delivery") for st in steps],
                              "server_cpu_us_per_delivery": [find(st, "server_cpu_us_per_delivery") for st in steps],
                              # the bench's own clients, on the same cores: what a bigger frame costs them
                              "bench_cpu_us_per_delivery": [bench_share(st) for st in steps],
                              "fixed_rate": fixed_rate, "fixed_p99_ms": fixed[history][-1] if fixed_rate else None,
                              "command": r["command"]}), flush=True)
    med = {h: statistics.median(v) if v else None for h, v in per.items()}
    p99 = {h: statistics.median(v) if v else None for h, v in fixed.items()}
    cpu = {h: {k: statistics.median(x) if x else None for k, x in c.items()} for h, c in cpus.items()}
    print(json.dumps({"bench": "history_fanout_saturated_ratio", "members": members, "rate": rate,
                      "samples": {h: len(v) for h, v in per.items()},
                      "median_saturated_deliveries_per_s": med,
                      "on_over_off": round(med["on"] / med["off"], 3) if med["on"] and med["off"] else None,
                      "on_over_off_per_round": [round(statistics.median(per["on"][i:i + a.repeats]) /
                                                      statistics.median(per["off"][i:i + a.repeats]), 3)
                                                for i in range(0, min(len(per["on"]), len(per["off"])), a.repeats)],
                      "median_cpu_us_per_delivery": cpu,
                      "fixed_rate": fixed_rate, "median_fixed_p99_ms": p99}), flush=True)


if __name__ == "__main__":
    main()
