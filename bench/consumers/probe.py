# consumers/probe.py — one switchboard-bench run, with the CPU each kind of
# server process (gateway, layerd, redis, worker, daphne) and the generator
# itself spent in each of its steps.
#
# Why a module of its own: the bench sums the CPU of every --server-pid into
# one figure, but bench/consumers must say which process pays for a delivery
# (the gateway rendering a frame, or Python in the worker). So this reads
# /proc/PID/stat per kind at each step's boundaries, which it learns from the
# bench's own output as it arrives: the progress line "fanout step N" (or
# "rooms: ...") on stderr comes right before the step's load starts, and the
# step's JSON line on stdout right after its drain ends, which is the window
# the bench measures its own server_cpu over. Two reader threads (stdout,
# stderr) take the snapshots; everything else is single-threaded. Every run
# is bounded by the bench's --deadline and a hard timeout here.
import json
import os
import re
import subprocess
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")
STEP_START = re.compile(r"switchboard-bench: (?:fanout step (\d+):|rooms: )")


def cpu_us(pid, reaped=False):
    """utime + stime of one process in µs (reaped: plus that of its children it has
    waited for); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        if reaped:
            ticks += int(fields[13]) + int(fields[14])
        return ticks * 1_000_000 // HZ
    except (OSError, IndexError, ValueError):
        return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        pass
    return out


def snapshot(kinds, bench_pid):
    """{kind: CPU µs so far} for the server kinds, plus "bench" (the generator and its workers)."""
    snap = {k: sum(cpu_us(p) for p in pids) for k, pids in kinds.items()}
    # The generator's workers: those still running, and (cutime, cstime) those it has
    # already reaped, which it does right after printing its last line.
    snap["bench"] = sum(cpu_us(c) for c in children(bench_pid)) + cpu_us(bench_pid, reaped=True)
    snap["_t"] = time.monotonic()
    return snap


def run(argv, kinds, errlog_path, timeout):
    """Run the bench; return (rc, [JSON lines]). Each "step" / rooms "result" line
    gets "cpu_us_by_kind" (the CPU of each kind over the step and its drain) and
    "cpu_us_per_delivery_by_kind"."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, bufsize=1)
    starts, lines, ends = {}, [], {}
    lock = threading.Lock()

    def read_err():
        with open(errlog_path, "w") as log:
            for line in p.stderr:
                log.write(line)
                m = STEP_START.match(line)
                if m:
                    s = snapshot(kinds, p.pid)
                    with lock:
                        starts[int(m.group(1) or 1)] = s

    def read_out():
        for raw in p.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if obj.get("phase") in ("step", "result") and "delivered" in obj.get("metrics", {}):
                s = snapshot(kinds, p.pid)
                with lock:
                    ends[len(lines)] = (int(obj.get("step", 1)), s)
            with lock:
                lines.append(obj)

    threads = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=read_out, daemon=True)]
    for t in threads:
        t.start()
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
        rc = "timeout"
    for t in threads:
        t.join(timeout=10)
    for i, (step, end) in ends.items():
        start = starts.get(step)
        if start is None:
            continue
        m = lines[i]["metrics"]
        by_kind = {k: end[k] - start[k] for k in end if not k.startswith("_")}
        m["cpu_window_s"] = round(end["_t"] - start["_t"], 3)
        m["cpu_us_by_kind"] = by_kind
        d = m.get("delivered") or 0
        m["cpu_us_per_delivery_by_kind"] = {k: round(v / d, 3) if d else None for k, v in by_kind.items()}
    return rc, lines
