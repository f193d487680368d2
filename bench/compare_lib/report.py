# compare_lib/report.py — bench/compare's table: the few numbers taken from
# each case's JSON lines, and the side-by-side table of configurations with
# Switchboard/seed ratios.
#
# Why a module of its own: it only reads results and formats text, so it
# can change (a new row) without touching what runs. A value whose run never
# found the server's limit is marked ">=", and a ratio built on one is
# marked too, so an open-ended number never passes for a measured maximum.
# Single-threaded, no I/O.
from compare_lib.cases import CONFIGS, OPEN_ENDED


def pick(lines, phase, key=None):
    for obj in reversed(lines):
        if obj.get("phase") == phase:
            return obj["metrics"] if key is None else obj["metrics"].get(key)
    return None


# What summarize keeps from the "result" line of these cases: {our key: the bench's metric}.
RESULT_KEYS = {
    "idle": {"idle_opened": "opened", "rss_per_conn": "server_rss_per_conn_bytes",
             "idle_rss_kb": "server_rss_after_kb", "handshake_p99": "handshake_p99_ms"},
    "rooms": {"rooms_ratio": "delivery_ratio", "rooms_p50": "latency_p50_ms", "rooms_p99": "latency_p99_ms",
              "rooms_cpu_us": "server_cpu_us_per_delivery", "rooms_dps": "deliveries_per_s"},
}


def summarize(res, case, lines):
    if case in RESULT_KEYS:
        m = pick(lines, "result") or {}
        for key, metric in RESULT_KEYS[case].items():
            res[key] = m.get(metric)
    elif case.startswith("fanout"):
        s = pick(lines, "summary") or {}
        res[case] = s.get("max_sustainable_deliveries_per_s")
        res[case + "_stop"] = s.get("stopped_because")
        res[case + "_steps"] = {o["params"]["rate"]: o["metrics"] for o in lines if o.get("phase") == "step"}
    elif case == "churn":
        m = pick(lines, "result") or {}
        res["churn_rate"] = m.get("achieved_rate_per_s")
        result = next((o for o in reversed(lines) if o.get("phase") == "result"), {})
        target = result.get("params", {}).get("target_rate")
        # reaching the target means the limit is somewhere above it
        res["churn_stop"] = "rates_exhausted" if target and (res["churn_rate"] or 0) >= 0.98 * target else "saturated"
        res["churn_failed"] = m.get("failed")
        res["churn_cpu_us"] = m.get("server_cpu_us_per_cycle")


def fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float) and digits:
        return f"{v:.{digits}f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if abs(v) >= 100 or digits == 0 else f"{v:.{max(digits, 1)}f}"
    return str(v)


def common_rate(results, case):
    """Highest fanout rate every configuration ran and sustained (for p50/p99 side by side)."""
    sets = []
    for r in results.values():
        steps = r.get(case + "_steps") or {}
        sets.append({rate for rate, m in steps.items() if m.get("sustainable")})
    if not sets or any(not s for s in sets):
        return None
    common = set.intersection(*sets)
    return max(common) if common else None


def table(results, plan):
    rows = []  # (label, better, {cfg: (value, text)}, lower_bound_cfgs)
    def add(label, better, getter, digits=0, note=None):
        vals = {}
        for cfg in CONFIGS:
            if cfg in results:
                v = getter(results[cfg])
                vals[cfg] = v
        rows.append((label, better, vals, digits, note))

    for case, members in (("fanout100", 100), ("fanout1000", 1000)):
        add(f"max sustainable deliveries/s, room {members:,}", "higher", lambda r, c=case: r.get(c), 0,
            lambda r, c=case: r.get(c + "_stop"))
    add("server RSS per idle connection, bytes", "lower", lambda r: r.get("rss_per_conn"), 0)
    for case in ("fanout100", "fanout1000"):
        rate = common_rate(results, case)
        if rate is not None:
            n = plan[case]["members"]
            for q in ("p50", "p99"):
                add(f"fanout room {n:,} @ {rate:g} msg/s ({rate * n:,.0f} dl/s): latency {q}, ms", "lower",
                    lambda r, c=case, rt=rate, qq=q: (r.get(c + "_steps") or {}).get(rt, {}).get(f"latency_{qq}_ms"), 2)
    rp = plan["rooms"]
    load = f"{rp['clients']} clients, rooms of {rp['room_size']}, {rp['rate_per_client']:g} msg/s each"
    add(f"rooms ({load}): delivery ratio", "higher", lambda r: r.get("rooms_ratio"), 4)
    add("rooms: latency p50, ms", "lower", lambda r: r.get("rooms_p50"), 2)
    add("rooms: latency p99, ms", "lower", lambda r: r.get("rooms_p99"), 2)
    add("rooms: server CPU us per delivery", "lower", lambda r: r.get("rooms_cpu_us"), 2)
    add(f"churn: cycles/s achieved (target {plan['churn']['rate']:g})", "higher", lambda r: r.get("churn_rate"), 1,
        lambda r: r.get("churn_stop"))
    add("churn: failed cycles", "lower", lambda r: r.get("churn_failed"), 0)
    add("churn: server CPU us per cycle", "lower", lambda r: r.get("churn_cpu_us"), 0)

    have = [c for c in CONFIGS if c in results]
    sbs = [c for c in ("sb1", "sb2") if c in results]
    head = ["metric", "better"] + have + [f"{c}/seed" for c in sbs if "seed" in results]
    body = []
    for label, better, vals, digits, note in rows:
        row = [label, better]
        for c in have:
            v = vals.get(c)
            text = fmt(v, digits)
            if note and c in results and v is not None:
                stop = note(results[c])
                if stop in OPEN_ENDED:
                    text = ">=" + text  # never found the limit: the real maximum is higher
            row.append(text)
        for c in sbs:
            if "seed" not in results:
                continue
            a, b = vals.get(c), vals.get("seed")
            if a is None or b is None:
                row.append("-")
            elif b == 0:
                row.append("both 0" if a == 0 else "n/a (seed 0)")
            else:
                ratio = f"{a / b:.2f}x"
                a_low = bool(note) and note(results[c]) in OPEN_ENDED
                b_low = bool(note) and note(results["seed"]) in OPEN_ENDED
                if a_low and b_low:
                    ratio = "? (both open)"
                elif a_low:
                    ratio = ">=" + ratio
                elif b_low:
                    ratio = "<=" + ratio
                row.append(ratio)
        body.append(row)
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    out = []
    for j, r in enumerate([head] + body):
        out.append("  ".join(str(x).ljust(widths[i]) if i == 0 else str(x).rjust(widths[i])
                             for i, x in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
