# consumers/report.py — bench/consumers' table: per leg the fan-out and
# round-trip figures, the CPU each kind of process spent per delivery, the
# ratios the issue asks for, and whether its two targets were met.
#
# Why a module of its own: it only reads results and formats text, so a row
# can be added without touching what runs. A figure from a ladder that never
# failed is a lower bound and is marked ">=", and so is a ratio built on one,
# so an open-ended number never passes for a measured maximum. Pure; no I/O.
from legs import ORDER

RATIOS = [("fast", "builtin", "a/d"), ("fast", "daphne", "a/c"), ("handler", "daphne", "b/c")]
CPU_KINDS = ("gateway", "layerd", "redis", "worker", "daphne", "bench")
LEG_LETTER = {"fast": "a", "handler": "b", "daphne": "c", "builtin": "d"}


def fan_max(r, key="fanout"):
    s = (r.get(key) or {}).get("summary") or {}
    if "max_sustainable_deliveries_per_s" not in s:
        return None, False
    return s["max_sustainable_deliveries_per_s"], bool(s.get("max_is_lower_bound"))


def fan_step(r, rate, key="fanout"):
    return ((r.get(key) or {}).get("steps") or {}).get(rate)


def fan_best_rate(r, key="fanout"):
    s = (r.get(key) or {}).get("summary") or {}
    return s.get("at_rate") or None


def rt_steps(r):
    return (r.get("rt") or {}).get("steps") or {}


def rt_max(r):
    steps = rt_steps(r)
    ok = [rate for rate, m in steps.items() if m.get("sustainable")]
    if not ok:
        return None, False
    return max(ok), (r.get("rt") or {}).get("stop") in ("rates_exhausted", "budget")


def common_fan_rate(results, among=None, key="fanout"):
    """Highest fan-out rate every leg (of `among`) ran and sustained (latency and CPU side by side)."""
    sets = [{rate for rate, m in ((r.get(key) or {}).get("steps") or {}).items() if m.get("sustainable")}
            for leg, r in results.items() if among is None or leg in among]
    common = set.intersection(*sets) if sets and all(sets) else set()
    return max(common) if common else None


def fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if digits == 0 or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(a, b, a_low=False, b_low=False):
    if a is None or b is None:
        return "-"
    if b == 0:
        return "both 0" if a == 0 else "n/a"
    t = f"{a / b:.2f}x"
    if a_low and b_low:
        return "? (both open)"
    return (">=" if a_low else "<=" if b_low else "") + t


def cpu_row(m, kind):
    per = (m or {}).get("cpu_us_per_delivery_by_kind") or {}
    return per.get(kind)


def table(results, plan, worker_procs=1):
    legs = [leg for leg in ORDER if leg in results]
    rows = []  # (label, better, {leg: (value, lower_bound)}, digits)

    def add(label, better, get, digits=0):
        rows.append((label, better, {leg: get(results[leg]) for leg in legs}, digits))

    n = plan["fanout"]["members"]
    add(f"fan-out, room of {n:,}: max sustainable deliveries/s", "higher", fan_max)
    add("  at that step: msg/s sent into the room", "", lambda r: (fan_best_rate(r), False))
    for q in ("p50", "p99"):
        add(f"  at that step: latency {q}, ms", "lower",
            lambda r, q=q: ((fan_step(r, fan_best_rate(r)) or {}).get(f"latency_{q}_ms"), False), 2)
    for kind in CPU_KINDS:
        add(f"  at that step: {kind} CPU us/delivery", "lower",
            lambda r, k=kind: (cpu_row(fan_step(r, fan_best_rate(r)), k), False), 3)
    add("  at that step: machine CPU us/delivery", "lower",
        lambda r: ((fan_step(r, fan_best_rate(r)) or {}).get("machine_cpu_us_per_delivery"), False), 3)
    def at_rate(rate, pre, kinds):
        for q in ("p50", "p99"):
            add(f"{pre} latency {q}, ms", "lower",
                lambda r, q=q: ((fan_step(r, rate) or {}).get(f"latency_{q}_ms"), False), 2)
        for kind in kinds:
            add(f"{pre} {kind} CPU us/delivery", "lower", lambda r, k=kind: (cpu_row(fan_step(r, rate), k), False), 3)
        add(f"{pre} server CPU us/delivery", "lower",
            lambda r: ((fan_step(r, rate) or {}).get("server_cpu_us_per_delivery"), False), 3)

    # the first step, sustained or not: what a leg that cannot carry even that does
    first = plan["fanout"]["rates"][0]
    pre = f"fan-out at {first:g} msg/s ({first * n:,.0f} dl/s offered, first step):"
    add(f"{pre} delivered %", "higher",
        lambda r: (100 * (fan_step(r, first) or {})["delivery_ratio"] if fan_step(r, first) else None, False), 1)
    add(f"{pre} deliveries/s", "higher", lambda r: ((fan_step(r, first) or {}).get("deliveries_per_s"), False))
    for q in ("p50", "p99"):
        add(f"{pre} latency {q}, ms", "lower",
            lambda r, q=q: ((fan_step(r, first) or {}).get(f"latency_{q}_ms"), False), 2)
    rate = common_fan_rate(results)
    if rate is not None and len(results) > 1:
        at_rate(rate, f"fan-out at {rate:g} msg/s ({rate * n:,.0f} dl/s, every leg):", CPU_KINDS)
    # the fast path's cost against the built-in chat's at the highest load both carried
    pair = common_fan_rate(results, ("fast", "builtin")) if {"fast", "builtin"} <= set(results) else None
    if pair is not None and pair != rate:
        at_rate(pair, f"fan-out at {pair:g} msg/s ({pair * n:,.0f} dl/s, a and d):", ("gateway", "layerd", "worker"))
    # the fan-out alone: the same source (built-in chat senders) in (a) and (d)
    pub = [leg for leg in legs if (results[leg].get("pubfanout") or {}).get("steps")]
    if pub:
        pf = plan["pubfanout"]
        add(f"fan-out from {pf['senders']} built-in senders, room of {pf['members']:,}: max deliveries/s", "higher",
            lambda r: fan_max(r, "pubfanout") if r.get("pubfanout") else (None, False))
        add("  at that step: msg/s sent into the room", "", lambda r: (fan_best_rate(r, "pubfanout"), False))
        for q in ("p50", "p99"):
            add(f"  at that step: latency {q}, ms", "lower",
                lambda r, q=q: ((fan_step(r, fan_best_rate(r, "pubfanout"), "pubfanout") or {})
                                .get(f"latency_{q}_ms"), False), 2)
        both = common_fan_rate({leg: results[leg] for leg in pub}, None, "pubfanout") if len(pub) > 1 else None
        if both is not None:
            pre = f"  at {both:g} msg/s (highest both carried):"
            for q in ("p50", "p99"):
                add(f"{pre} latency {q}, ms", "lower",
                    lambda r, q=q: ((fan_step(r, both, "pubfanout") or {}).get(f"latency_{q}_ms"), False), 2)
            for kind in ("gateway", "layerd", "worker"):
                add(f"{pre} {kind} CPU us/delivery", "lower",
                    lambda r, k=kind: (cpu_row(fan_step(r, both, "pubfanout"), k), False), 3)
    rt = plan["rt"]
    first = rt["rates"][0]
    add(f"round trip at {first:g}/s ({rt['clients']} sockets, each alone in a room): p50, ms", "lower",
        lambda r: ((rt_steps(r).get(first) or {}).get("latency_p50_ms"), False), 2)
    add("round trip at light load: p99, ms", "lower",
        lambda r: ((rt_steps(r).get(first) or {}).get("latency_p99_ms"), False), 2)
    workers = "one worker" if worker_procs == 1 else f"{worker_procs} worker processes"
    add(f"round trips/s sustained ({workers} / one daphne process)", "higher", rt_max)

    def rt_at_max(r):
        return rt_steps(r).get(rt_max(r)[0]) or {}

    add("  at that rate: latency p99, ms", "lower", lambda r: (rt_at_max(r).get("latency_p99_ms"), False), 2)
    add("  at that rate: worker / daphne process, cores", "",
        lambda r: (py_cores(rt_at_max(r)), False), 2)
    for kind in CPU_KINDS:
        add(f"  at that rate: {kind} CPU us/round trip", "lower",
            lambda r, k=kind: (cpu_row(rt_at_max(r), k), False), 3)

    ratio_cols = [(a, b, name) for a, b, name in RATIOS if a in results and b in results]
    head = ["figure", "better"] + [f"({LEG_LETTER[leg]}) {leg}" for leg in legs] + [c[2] for c in ratio_cols]
    body = []
    for label, better, vals, digits in rows:
        row = [label, better]
        for leg in legs:
            v, low = vals[leg]
            row.append((">=" if low and v is not None else "") + fmt(v, digits))
        for a, b, _ in ratio_cols:
            (va, la), (vb, lb) = vals[a], vals[b]
            row.append(ratio(va, vb, la, lb) if better else "")
        body.append(row)
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    out = []
    for j, r in enumerate([head] + body):
        out.append("  ".join(str(x).ljust(widths[i]) if i == 0 else str(x).rjust(widths[i]) for i, x in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def py_cores(m):
    """CPU cores of the Python process kind (worker or daphne) over a step."""
    by = m.get("cpu_us_by_kind") or {}
    w = m.get("cpu_window_s")
    us = by.get("worker", 0) + by.get("daphne", 0)
    return us / 1e6 / w if w and ("worker" in by or "daphne" in by) else None


def targets(results):
    """The issue's two targets, each as a line: met, not met, or not measured."""
    out = []

    def verdict(a, b, need, a_low, b_low):
        if a is None or b is None:
            return "not measured"
        if b == 0:
            return "not measured (reference 0)"
        x = a / b
        if a_low and b_low:
            return f"open ({x:.2f}x; neither ladder found its limit)"
        if x >= need:
            return f"open ({x:.2f}x, but the reference's limit was not found)" if b_low else f"met ({x:.2f}x)"
        return f"open ({x:.2f}x, but this leg's limit was not found)" if a_low else f"not met ({x:.2f}x)"

    if "fast" in results and "builtin" in results:
        (a, al), (b, bl) = fan_max(results["fast"]), fan_max(results["builtin"])
        out.append("fast path within 10% of the built-in chat's fan-out (max deliveries/s, a/d >= 0.90): "
                   + verdict(a, b, 0.9, al, bl))
    pair = common_fan_rate(results, ("fast", "builtin")) if {"fast", "builtin"} <= set(results) else None
    if pair is not None:
        # the fan-out itself, without the input path (the worker's receive and group_send)
        cost = {leg: sum(cpu_row(fan_step(results[leg], pair), k) or 0 for k in ("gateway", "layerd"))
                for leg in ("fast", "builtin")}
        if cost["fast"] and cost["builtin"]:
            x = cost["fast"] / cost["builtin"]
            out.append(f"fast path's fan-out cost within 10% of the built-in chat's (gateway + layerd CPU us/delivery "
                       f"at {pair:g} msg/s, a/d <= 1.10): {'met' if x <= 1.10 else 'not met'} ({x:.2f}x: "
                       f"{cost['fast']:.3f} vs {cost['builtin']:.3f})")
    if "fast" in results and "builtin" in results and results["fast"].get("pubfanout"):
        (a, al), (b, bl) = fan_max(results["fast"], "pubfanout"), fan_max(results["builtin"], "pubfanout")
        out.append("fast path within 10% of the built-in chat's fan-out, from the same built-in senders "
                   "(max deliveries/s, a/d >= 0.90): " + verdict(a, b, 0.9, al, bl))
    for leg in ("fast", "handler"):
        if leg in results and "daphne" in results:
            first = lambda r: rt_steps(r).get(min(rt_steps(r))) if rt_steps(r) else None  # noqa: E731
            mine, theirs = first(results[leg]), first(results["daphne"])
            if mine and theirs:
                for q in ("p50", "p99"):
                    a, b = mine.get(f"latency_{q}_ms"), theirs.get(f"latency_{q}_ms")
                    if a is not None and b:
                        out.append(f"({LEG_LETTER[leg]}) {leg} never slower than daphne, light-load round trip {q} "
                                   f"(<= daphne's): {'met' if a <= b else 'not met'} ({a:.2f} vs {b:.2f} ms, "
                                   f"{a / b:.2f}x)")
            (a, al), (b, bl) = fan_max(results[leg]), fan_max(results["daphne"])
            out.append(f"({LEG_LETTER[leg]}) {leg} never slower than daphne, fan-out (max deliveries/s >= daphne's): "
                       + verdict(a, b, 1.0, al, bl))
            (a, al), (b, bl) = rt_max(results[leg]), rt_max(results["daphne"])
            out.append(f"({LEG_LETTER[leg]}) {leg} never slower than daphne, round trips/s per process: "
                       + verdict(a, b, 1.0, al, bl))
    return out
