#!/usr/bin/python3
# bench/failover.py — what a layerd failover costs the chat: a layerd is
# killed with SIGKILL under traffic, and every message is accounted for.
#
# Why: a group_send accepted from a browser must not vanish when its layerd
# dies (docs/architecture.md, rule 7; docs/protocol.md, "Acknowledged
# group_sends"). The scenario: a private stack on loopback (its own
# redis-server, 2 layerds, 2 gateways, started by the integration harness in
# tests/integration/), ROOMS rooms, in each a sender that sends a numbered
# message every INTERVAL seconds (senders alternate between the gateways)
# and a receiver on each gateway; layerd0 is killed -9 mid-traffic, sending
# goes on, then stops, and every receiver's messages are checked: lost,
# duplicated, out of order (per room and sender), and how long the rooms
# waited (recovery: from the kill to the first message a receiver got
# after it, worst room; rooms whose deliveries stalled over 0.2 s are
# "affected"). tests/integration/test_failover.py runs the same function
# and asserts exactly-once, in-order delivery; this script prints the
# numbers for bench/RESULTS.md.
#
# usage: bench/failover.py [--bin DIR] [--rooms 20] [--interval 0.05] [--before 2] [--after 4]
import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))


async def _scenario(cluster, rooms: int, interval: float, before: float, after: float, drain: float):
    from harness import Clients, recv_json, send_msg  # noqa: E402  (after SB_BIN_DIR is set)
    import websockets.exceptions

    gws = cluster.gateways
    names = [f"fo{i}" for i in range(rooms)]
    got = {}      # (room, receiver) -> [(n, t)]
    sent = {r: [] for r in names}
    stop_sending = asyncio.Event()
    async with Clients() as cl:
        socks = {}
        for i, r in enumerate(names):
            sender = await cl.connect(gws[i % 2], r)
            rx = [await cl.connect(gws[0], r), await cl.connect(gws[1], r)]
            socks[r] = (sender, rx)

        async def receive(room, name, ws):
            out = got.setdefault((room, name), [])
            try:
                while True:
                    m = await recv_json(ws, 3600)
                    text = m.get("message", "")
                    if isinstance(text, str) and text.startswith(room + ":"):
                        out.append((int(text.split(":")[1]), time.monotonic()))
            except (asyncio.CancelledError, websockets.exceptions.ConnectionClosed):
                return

        async def send(room, ws):
            n = 0
            next_at = time.monotonic()
            while not stop_sending.is_set():
                n += 1
                await send_msg(ws, f"{room}:{n}")
                sent[room].append(n)
                next_at += interval
                await asyncio.sleep(max(0, next_at - time.monotonic()))

        readers = []
        for r, (sender, rx) in socks.items():
            readers.append(asyncio.ensure_future(receive(r, "sender", sender)))
            readers += [asyncio.ensure_future(receive(r, f"gw{j}", ws)) for j, ws in enumerate(rx)]
        senders = [asyncio.ensure_future(send(r, socks[r][0])) for r in names]
        await asyncio.sleep(before)
        victim = cluster.layerds[0]
        killed_at = time.monotonic()
        victim.kill(signal.SIGKILL)
        await asyncio.sleep(after)
        stop_sending.set()
        await asyncio.gather(*senders)
        # wait until every receiver has everything (or the drain time is up)
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            if all(len({n for n, _ in got.get((r, k), [])}) >= len(sent[r])
                   for r in names for k in ("sender", "gw0", "gw1")):
                break
            await asyncio.sleep(0.1)
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return names, sent, got, killed_at


def analyse(names, sent, got, killed_at):
    lost = dup = reordered = 0
    missed = set()  # (room, n) some receiver never got
    affected = set()
    recovery = 0.0
    for r in names:
        want = set(sent[r])
        for k in ("sender", "gw0", "gw1"):
            seq = got.get((r, k), [])
            ns = [n for n, _ in seq]
            lost += len(want - set(ns))
            missed.update((r, n) for n in want - set(ns))
            dup += len(ns) - len(set(ns))
            reordered += sum(1 for a, b in zip(ns, ns[1:]) if b < a)
            after = [t for _, t in seq if t >= killed_at]
            if after:
                recovery = max(recovery, after[0] - killed_at)
            times = [killed_at] + after
            if any(b - a > 0.2 for a, b in zip(times, times[1:])):
                affected.add(r)
    return {
        "rooms": len(names),
        "messages_sent": sum(len(v) for v in sent.values()),
        "deliveries_expected": 3 * sum(len(v) for v in sent.values()),
        "lost": lost,                    # deliveries (message × receiver) that never came
        "messages_lost": len(missed),    # messages at least one receiver never got
        "duplicates": dup,
        "reordered": reordered,
        "rooms_affected": len(affected),
        "recovery_s": round(recovery, 3),
    }


def run_failover(test_case, rooms=20, interval=0.05, before=2.0, after=4.0, drain=8.0, gateway_args=()):
    """Runs the scenario in a harness ProcessTestCase (which owns and stops
    the processes) and returns analyse()'s dict plus the raw data."""
    cluster = test_case.start_cluster(layerds=2, gateways=2, gateway_args=list(gateway_args))
    names, sent, got, killed_at = asyncio.run(asyncio.wait_for(
        _scenario(cluster, rooms, interval, before, after, drain), before + after + drain + 120))
    result = analyse(names, sent, got, killed_at)
    result["_got"] = got
    result["_sent"] = sent
    return result


def main():
    ap = argparse.ArgumentParser(description="a layerd killed under traffic: lost, duplicate, reordered messages, recovery time")
    ap.add_argument("--bin", default=str(HERE.parent / "build" / "bin"))
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--before", type=float, default=2.0)
    ap.add_argument("--after", type=float, default=4.0)
    args = ap.parse_args()
    os.environ["SB_BIN_DIR"] = str(Path(args.bin).resolve())
    import unittest
    from harness import ProcessTestCase

    out = {}

    class Run(ProcessTestCase):
        def test_run(self):
            out.update(run_failover(self, args.rooms, args.interval, args.before, args.after))

    res = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(Run("test_run"))
    if not out:
        for _, tb in res.errors + res.failures:
            sys.stderr.write(tb)
        sys.exit(1)
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("_")}))


if __name__ == "__main__":
    main()
