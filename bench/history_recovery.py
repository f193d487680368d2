#!/usr/bin/python3
# history_recovery.py — many clients reconnect at once with ?since= and each
# must get exactly what it missed: no gap, no duplicate.
#
# Why: recovery (docs/protocol.md, History) is what a room's members do all
# together after a gateway restart or a network blip. This starts a private
# stack on loopback (redis-server, one layerd with room history, --gateways
# gateways), opens --clients sockets in one room, sends a few messages they
# all see, closes them all, sends --missed messages, then reconnects every
# client at once with ?since=<the last id it saw> while a sender keeps
# sending --live more. Each client's replay plus its live lines must be
# exactly the messages after its last id, in order, and its recovery frame
# must say complete with the count replayed. Reported: whether every client
# passed, the time from the reconnect to each client's first frame and to
# its recovery frame (p50/p99/max), and the CPU each process spent on the
# reconnection (the bench's own too: it parses every frame in one process,
# and with 1,000 clients it, not the servers, sets those times).
# Bounded in count and time; binds loopback only; everything started is
# stopped. Mind the open-file limit: each client is one socket here and one
# in a gateway (1,000 clients: about 1,000 fds per side).
#
# usage: bench/history_recovery.py [--clients 1000] [--missed 100] [--live 20] [--gateways 2] [--bin build/bin]
import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import websockets  # python3-websockets (Debian)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOM = "recovery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {port}")


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def connect(url, tries=5):
    for attempt in range(tries):
        try:
            return await websockets.connect(url, open_timeout=30, ping_interval=None, close_timeout=2,
                                            max_size=1 << 22)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidStatusCode):
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def recv_json(ws, timeout):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def scenario(urls, clients, missed, live, timeout):
    n_gw = len(urls)
    sender = await connect(urls[0] + f"ws/chat/{ROOM}/")
    members = await asyncio.gather(*(connect(urls[i % n_gw] + f"ws/chat/{ROOM}/") for i in range(clients)))
    # A few messages every member sees: each one's last id.
    for i in range(5):
        await sender.send(json.dumps({"message": f"seen-{i}"}))
    last_ids = []
    for ws in members:
        got = [await recv_json(ws, timeout) for _ in range(5)]
        last_ids.append(got[-1]["id"])
    await asyncio.gather(*(ws.close() for ws in members))
    own = [await recv_json(sender, timeout) for _ in range(5)]
    # What they miss while away.
    for i in range(missed):
        await sender.send(json.dumps({"message": f"missed-{i}"}))
    expected = [f"missed-{i}" for i in range(missed)] + [f"live-{i}" for i in range(live)]
    sent_ids = [m["id"] for m in own] + [(await recv_json(sender, timeout))["id"] for _ in range(missed)]
    assert len(set(sent_ids)) == len(sent_ids)

    async def come_back(i):
        t0 = time.monotonic()
        ws = await connect(urls[i % n_gw] + f"ws/chat/{ROOM}/?since={last_ids[i]}")
        lines, recovery, recovered_at, first_at = [], None, None, None
        try:
            while len(lines) < len(expected):
                m = await recv_json(ws, timeout)
                if first_at is None:
                    first_at = time.monotonic() - t0
                if m.get("type") == "recovery":
                    recovery, recovered_at = m, time.monotonic() - t0
                    continue
                lines.append(m)
        finally:
            await ws.close()
        return lines, recovery, recovered_at, first_at

    async def keep_sending():
        for i in range(live):
            await sender.send(json.dumps({"message": f"live-{i}"}))
            await asyncio.sleep(0.01)

    t0 = time.monotonic()
    results, _ = await asyncio.gather(asyncio.gather(*(come_back(i) for i in range(clients))), keep_sending())
    elapsed = time.monotonic() - t0
    await sender.close()
    bad, incomplete, latencies, firsts, replayed = [], 0, [], [], []
    for i, (lines, recovery, at, first) in enumerate(results):
        if first is not None:
            firsts.append(first)
        texts = [m["message"] for m in lines]
        ids = [m["id"] for m in lines]
        replays = [m for m in lines if m.get("history")]
        if texts != expected or len(set(ids)) != len(ids):
            bad.append(i)
        if not recovery or recovery.get("complete") is not True or recovery.get("count") != len(replays):
            incomplete += 1
        if at is not None:
            latencies.append(at)
        replayed.append(len(replays))
    return {"clients": clients, "missed": missed, "live": live, "seconds": round(elapsed, 3),
            "clients_exact": clients - len(bad), "clients_with_gap_or_duplicate": len(bad),
            "recovery_not_complete": incomplete,
            "replayed_min": min(replayed), "replayed_max": max(replayed),
            "recovery_ms_p50": round(percentile(latencies, 50) * 1000, 1),
            "recovery_ms_p99": round(percentile(latencies, 99) * 1000, 1),
            "recovery_ms_max": round(max(latencies) * 1000, 1),
            "first_frame_ms_p50": round(percentile(firsts, 50) * 1000, 1),
            "first_frame_ms_p99": round(percentile(firsts, 99) * 1000, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--missed", type=int, default=100)
    ap.add_argument("--live", type=int, default=20)
    ap.add_argument("--gateways", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds any one wait may take")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    a = ap.parse_args()
    if not 1 <= a.clients <= 5000 or not 1 <= a.missed <= 900 or not 0 <= a.live <= 1000 or not 1 <= a.gateways <= 4:
        sys.exit("history_recovery: --clients 1..5000, --missed 1..900, --live 0..1000, --gateways 1..4")
    work = tempfile.mkdtemp(prefix="sb-history-recovery.")
    procs = {}
    try:
        rp, lp = free_port(), free_port()
        procs["redis"] = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(rp), "--dir", work,
                                           "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_port(rp, procs["redis"], "redis-server")
        procs["layerd"] = subprocess.Popen(
            [os.path.join(a.bin, "switchboard-layerd"), "--bind", f"tcp://127.0.0.1:{lp}",
             "--redis", f"redis://127.0.0.1:{rp}/0", "--log-level", "warn", "--history", "chat_* 1000 1h"],
            stderr=open(os.path.join(work, "layerd.log"), "w"))
        wait_port(lp, procs["layerd"], "switchboard-layerd")
        urls = []
        for g in range(a.gateways):
            hp = free_port()
            procs[f"gateway{g}"] = subprocess.Popen(
                [os.path.join(a.bin, "switchboard-gateway"), "--listen", f"127.0.0.1:{hp}",
                 "--layerd", f"tcp://127.0.0.1:{lp}", "--id", f"rec{g}", "--log-level", "warn",
                 # one sender sends --missed messages at once: above the default per-socket rate
                 "--rate-limit", "5000", "--rate-burst", "5000"],
                stderr=open(os.path.join(work, f"gateway{g}.log"), "w"))
            wait_port(hp, procs[f"gateway{g}"], "switchboard-gateway")
            urls.append(f"ws://127.0.0.1:{hp}/")
        time.sleep(0.5)  # the gateways' links to layerd come up
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        bench0 = cpu_seconds(os.getpid())
        out = asyncio.run(asyncio.wait_for(scenario(urls, a.clients, a.missed, a.live, a.timeout), 600))
        out["cpu_s"] = {name: round(cpu_seconds(p.pid) - cpu0[name], 3) for name, p in procs.items()}
        # The bench is one Python process parsing every frame: when its CPU is
        # near the wall time, it is the limit of the latencies above.
        out["cpu_s"]["bench"] = round(cpu_seconds(os.getpid()) - bench0, 3)
        out["bench"] = "history_recovery"
        out["ok"] = out["clients_with_gap_or_duplicate"] == 0 and out["recovery_not_complete"] == 0
        print(json.dumps(out), flush=True)
        return 0 if out["ok"] else 1
    finally:
        for p in reversed(list(procs.values())):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
