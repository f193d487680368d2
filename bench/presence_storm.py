#!/usr/bin/python3
# bench/presence_storm.py — a reconnect storm in one room, and what it costs
# the room's presence (docs/protocol.md, Presence; layerd/presence.hpp).
#
# Why: presence must not flood a room when many clients drop and come back
# at once (a gateway restart, a network blip). layerd sends a group's
# changes at most once per --presence-debounce-ms window, as the window's
# NET change, so a user who drops and returns inside a window costs
# nothing. The scenario: a private stack on loopback (its own redis-server,
# one layerd, two gateways, started by the integration harness in
# tests/integration/), CLIENTS token users in one room spread over both
# gateways by PROCS client processes (each well under the 20,000 open
# files a process may have), plus WATCHERS sockets that joined with
# ?presence=1 and stay. Then every client drops its connection (a TCP
# abort, as a lost network does) and reconnects at once, at most
# CONCURRENCY connects in flight per process. Measured: how long the storm
# took (first drop to last reconnect), the presence frames each watcher got
# from the first drop until the room settled, and the change events layerd
# sent for the room (its switchboard_layerd_presence_changes_total).
# Checked: frames per watcher and room events are within the bound
#     ceil(storm seconds * 1000 / debounce_ms) + 2
# (one window per debounce interval while changes keep coming, one for the
# window still open when the storm ends, one for a window that a change at
# the very start of the storm opened before the first full one), and the
# final list (GET /api/presence) is exactly the CLIENTS users plus the
# watchers.
#
# Clients speak just enough RFC 6455 to be counted: the upgrade with a
# token, then nothing (storm clients are not watchers; a watcher's frames
# are short unmasked text frames, read by their headers).
#
# usage: bench/presence_storm.py [--bin DIR] [--clients 10000] [--procs 4] [--watchers 20]
#                                [--concurrency 200] [--debounce-ms 1000] [--list-max 20000]
import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import math
import multiprocessing as mp
import os
import selectors
import socket
import struct
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

SECRET = "presence-storm-secret-0123456789abcdef"
KEY = base64.b64encode(b"presence-storm-k").decode()  # 16 bytes: any valid key
ROOM = "storm"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(sub: str) -> str:
    """An HS256 JWT (RFC 7519) the gateways accept with SECRET."""
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = b64url(json.dumps({"sub": sub, "name": "User " + sub, "exp": int(time.time()) + 3600}).encode())
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def request_bytes(port: int, token: str, watch: bool) -> bytes:
    q = "token=" + urllib.parse.quote(token, safe="") + ("&presence=1" if watch else "")
    return (f"GET /ws/chat/{ROOM}/?{q} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


async def upgrade(port: int, req: bytes, timeout: float):
    """(reader, writer) of an upgraded socket; raises on anything but 101."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(req)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    except BaseException:
        writer.transport.abort()
        raise
    return reader, writer


async def read_frames(reader, out: list):
    """Appends (monotonic time, JSON) for each text frame until the socket ends."""
    try:
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(n)
            if b0 & 0x0F == 1:
                out.append((time.monotonic(), json.loads(payload)))
    except (asyncio.IncompleteReadError, ConnectionError):
        return


def connect_all(targets, concurrency: int, timeout: float):
    """Upgrades every (port, request) in targets, at most `concurrency` in
    flight, each tried up to 5 times: (sockets or None, time each was up or
    None, failed attempts). A plain selector loop on non-blocking sockets:
    the client side should cost as little CPU as it can, since it shares the
    machine with the gateways it measures."""
    n = len(targets)
    sel = selectors.DefaultSelector()
    socks, up_at, attempts = [None] * n, [None] * n, [0] * n
    queue = collections.deque(range(n))
    inflight = {}  # i -> [socket, bytes read, deadline]
    failures = 0

    def fail(i):
        nonlocal failures
        s = inflight.pop(i)[0]
        sel.unregister(s)
        s.close()
        failures += 1
        attempts[i] += 1
        if attempts[i] < 5:
            queue.append(i)

    next_sweep = time.monotonic() + 1
    while queue or inflight:
        while queue and len(inflight) < concurrency:
            i = queue.popleft()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", targets[i][0]))
            inflight[i] = [s, b"", time.monotonic() + timeout]
            sel.register(s, selectors.EVENT_WRITE, i)
        for key, _ in sel.select(0.05):
            i = key.data
            s, buf, _ = inflight[i]
            try:
                if not buf and key.events == selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        fail(i)
                        continue
                    s.send(targets[i][1])  # a few hundred bytes: one send
                    sel.modify(s, selectors.EVENT_READ, i)
                    inflight[i][1] = b" "  # marks: request sent
                    continue
                data = s.recv(4096)
            except OSError:
                fail(i)
                continue
            if not data:
                fail(i)
                continue
            buf = inflight[i][1] = buf + data
            if b"\r\n\r\n" in buf:
                if not buf.lstrip().startswith(b"HTTP/1.1 101"):
                    fail(i)
                    continue
                sel.unregister(s)
                del inflight[i]
                socks[i] = s
                up_at[i] = time.monotonic()
        now = time.monotonic()
        if now >= next_sweep:
            next_sweep = now + 1
            for i in [i for i, v in inflight.items() if v[2] < now]:
                fail(i)
    sel.close()
    return socks, up_at, failures


def drop(socks):
    """Closes each socket with an RST, as a lost network would look."""
    for s in socks:
        if s is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


def client_proc(index: int, users, ports, concurrency: int, conn, storm_go, timeout: float):
    """One client process: connects its users, reports, waits for the storm,
    drops and reconnects them all, reports again, and holds them until told."""
    targets = [(ports[i % len(ports)], request_bytes(ports[i % len(ports)], mint(u), False))
               for i, u in enumerate(users)]
    t0 = time.monotonic()
    socks, _, failures = connect_all(targets, concurrency, timeout)
    conn.send({"phase": "up", "proc": index, "connected": sum(s is not None for s in socks),
               "seconds": time.monotonic() - t0, "failures": failures})
    storm_go.wait()
    dropped = time.monotonic()
    drop(socks)
    socks, up_at, failures = connect_all(targets, concurrency, timeout)
    ok = [t for t in up_at if t is not None]
    conn.send({"phase": "back", "proc": index, "connected": len(ok), "dropped_at": dropped,
               "last_back": max(ok) if ok else dropped, "failures": failures})
    conn.recv()  # stay connected until the parent has read the final state
    drop(socks)


def cpu_seconds(pid: int) -> float:
    """utime + stime of pid (/proc/PID/stat), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(port: int, name: str) -> float:
    from harness import scrape_metrics
    return scrape_metrics(port).get(name, 0.0)


def run_storm(test_case, clients=10000, procs=4, watchers=20, concurrency=200, debounce_ms=1000,
              list_max=20000, settle=None):
    from harness import Gateway, Layerd, http_request, wait_until, free_port
    settle = settle if settle is not None else 2 * debounce_ms / 1000 + 1
    redis = test_case.start_redis()
    mport = free_port()
    ld = test_case.own(Layerd(None, redis.url, id="layerd0", log_level="info", workdir=test_case.workdir, extra_args=[
        "--presence-debounce-ms", str(debounce_ms), "--presence-list-max", str(list_max),
        "--metrics-listen", f"127.0.0.1:{mport}"])).start()
    gws = []
    for name in ("gwa", "gwb"):
        gw = test_case.own(Gateway([ld.endpoint], id=name, workdir=test_case.workdir, log_level="info",
                                   extra_args=["--ping-interval-ms", "600000", "--jwt-secret", SECRET]))
        gws.append(gw.start())
    ports = [g.port for g in gws]
    watcher_users = [f"w{i}" for i in range(watchers)]
    users = [f"u{i}" for i in range(clients)]
    chunks = [users[i::procs] for i in range(procs)]

    # Forked before any thread of ours runs.
    ctx = mp.get_context("fork")
    go = ctx.Event()
    pipes, children = [], []
    for i, chunk in enumerate(chunks):
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=client_proc, args=(i, chunk, ports, concurrency, child_end, go, 10.0), daemon=True)
        p.start()
        pipes.append(parent_end)
        children.append(p)

    # The watchers read on their own thread's loop, so their frames are
    # timed as they come while this thread waits on the client processes.
    loop = asyncio.new_event_loop()
    reader_thread = threading.Thread(target=loop.run_forever, daemon=True)
    reader_thread.start()

    async def open_watchers():
        out = []
        for i, u in enumerate(watcher_users):
            r, w = await upgrade(ports[i % 2], request_bytes(ports[i % 2], mint(u), True), 10)
            got = []
            out.append((r, w, got, asyncio.ensure_future(read_frames(r, got))))
        return out

    socks = asyncio.run_coroutine_threadsafe(open_watchers(), loop).result(60)
    def gather(phase):
        out = []
        deadline = time.monotonic() + 600
        for pipe in pipes:
            while time.monotonic() < deadline:
                if pipe.poll(1):
                    msg = pipe.recv()
                    if msg["phase"] == phase:
                        out.append(msg)
                        break
        return out

    try:
        ups = gather("up")
        ramp = max(u["seconds"] for u in ups)
        connected = sum(u["connected"] for u in ups)
        expected = clients + watchers

        def settled():
            status, _, body = http_request(ports[0], "GET", f"/api/presence?group=chat_{ROOM}&token={mint('probe')}")
            return status == 200 and json.loads(body)["count"] == expected
        wait_until(settled, 60, "every client counted before the storm")
        time.sleep(2 * debounce_ms / 1000 + 0.5)  # the ramp's windows are over
        before = {u: len(s[2]) for u, s in zip(watcher_users, socks)}
        events_before = scrape(mport, "switchboard_layerd_presence_changes_total")
        roles = {"gateways": [g.pid for g in gws], "layerd": [ld.pid], "redis": [redis.pid],
                 "clients": [p.pid for p in children]}
        cpu_before = {k: sum(cpu_seconds(p) for p in v) for k, v in roles.items()}
        go.set()
        backs = gather("back")
        cpu_storm = {k: round(sum(cpu_seconds(p) for p in v) - cpu_before[k], 2) for k, v in roles.items()}
        dropped_at = min(b["dropped_at"] for b in backs)
        last_back = max(b["last_back"] for b in backs)
        storm_s = last_back - dropped_at
        time.sleep(settle)
        status, _, body = http_request(ports[1], "GET", f"/api/presence?group=chat_{ROOM}&token={mint('probe')}",
                                       timeout=30)
        final = json.loads(body) if status == 200 else {}
        events = scrape(mport, "switchboard_layerd_presence_changes_total") - events_before
        per_watcher = [len(s[2]) - before[u] for u, s in zip(watcher_users, socks)]
        storm_frames = [m for t, m in socks[0][2] if t >= dropped_at]
        bound = math.ceil(storm_s * 1000 / debounce_ms) + 2
        final_ids = sorted(u["id"] for u in final.get("users", []))
        result = {
            "clients": clients, "procs": procs, "watchers": watchers, "concurrency": concurrency,
            "debounce_ms": debounce_ms, "list_max": list_max,
            "connected_before": connected, "ramp_s": round(ramp, 2),
            "reconnected": sum(b["connected"] for b in backs),
            "reconnect_failures": sum(b["failures"] for b in backs),
            "storm_s": round(storm_s, 2),
            "storm_cpu_s": cpu_storm,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "room_events": events, "frames_per_watcher_max": max(per_watcher), "frames_per_watcher_min": min(per_watcher),
            "bound": bound,
            "frame_counts_seen_by_watcher0": [m.get("count") for m in storm_frames],
            "final_count": final.get("count"),
            "final_exact": final_ids == sorted(users + watcher_users) and final.get("count") == expected,
        }
        result["within_bound"] = max(per_watcher) <= bound and events <= bound
        return result
    finally:
        go.set()
        for pipe in pipes:
            try:
                pipe.send("done")
            except OSError:
                pass
        for p in children:
            p.join(20)
            if p.is_alive():
                p.kill()
        async def close_watchers():
            for r, w, got, task in socks:
                w.transport.abort()
            await asyncio.gather(*(s[3] for s in socks), return_exceptions=True)
        asyncio.run_coroutine_threadsafe(close_watchers(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        reader_thread.join(10)


def main():
    ap = argparse.ArgumentParser(description="a reconnect storm in one room: presence frames, room events, final list")
    ap.add_argument("--bin", default=str(HERE.parent / "build" / "bin"))
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--watchers", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=200, help="connects in flight per client process")
    ap.add_argument("--debounce-ms", type=int, default=1000)
    ap.add_argument("--list-max", type=int, default=20000)
    args = ap.parse_args()
    if args.clients > 18000 * args.procs:
        ap.error("more than 18,000 clients per process would pass the 20,000 open files a process may have")
    os.environ["SB_BIN_DIR"] = str(Path(args.bin).resolve())
    import unittest
    from harness import ProcessTestCase

    out = {}

    class Run(ProcessTestCase):
        def test_run(self):
            out.update(run_storm(self, args.clients, args.procs, args.watchers, args.concurrency,
                                 args.debounce_ms, args.list_max))

    res = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(Run("test_run"))
    if not out:
        for _, tb in res.errors + res.failures:
            sys.stderr.write(tb)
        sys.exit(1)
    print(json.dumps(out))
    ok = out["within_bound"] and out["final_exact"] and out["storm_s"] <= 5.0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
