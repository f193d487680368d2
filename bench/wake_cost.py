#!/usr/bin/python3
# bench/wake_cost.py — what one hop between two idle processes costs on this
# machine: the floor under every light-load round trip.
#
# Why: at light load every process on a round trip's path sleeps until the
# previous one hands it the message, so a round trip costs about the number
# of such wake-ups times the cost of one, plus the work itself. This
# measures that cost, from the sender's clock reading to the receiver's
# (one machine, one clock), for the hops a consumer route is made of:
#
#   tcp, blocking       one process writes to a TCP socket, another wakes in recv()
#   tcp, epoll          the same, the reader waiting in epoll first (how C++ loops wait)
#   tcp, asyncio        the same, the reader an asyncio task (how a Python worker waits)
#   via redis, blocking a writer's ZADD wakes a reader blocked in BZPOPMIN (two hops)
#   via redis, redis-py the same read with redis.asyncio's pipeline of BZPOPMIN + ZPOPMIN,
#                       as switchboard_django's worker reads its inbox (inbox.py)
#
# Each line: p50 and p90 in µs over --count messages, one every 10 ms (the
# machine idle in between, as at light load). Bounded: --count (at most
# 2,000) per line, every read waits at most 5 s; the private redis-server
# (loopback, a free port) and the writer processes are stopped on exit.
#
# usage: bench/wake_cost.py [--count 300] [--rounds 2]
import argparse
import asyncio
import os
import selectors
import socket
import subprocess
import sys
import time

WRITER = r'''
import socket, sys, time
kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(5)
for _ in range(n):
    time.sleep(0.01)
    t = repr(time.time()).encode()
    if kind == "tcp":
        s.sendall(t.ljust(32))
    else:  # ZADD k 1 <time>
        s.sendall(b"*4\r\n$4\r\nZADD\r\n$1\r\nk\r\n$1\r\n1\r\n$%d\r\n%s\r\n" % (len(t), t))
    s.recv(64)  # the reader's ack, or Redis' answer
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantiles(us):
    us = sorted(us)
    return us[len(us) // 2], us[min(len(us) - 1, 9 * len(us) // 10)]


def writer(kind, port, n):
    return subprocess.Popen([sys.executable, "-c", WRITER, kind, str(port), str(n)])


def tcp_lines(n):
    out = []
    for mode in ("blocking", "epoll", "asyncio"):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        w = writer("tcp", srv.getsockname()[1], n)
        srv.settimeout(5)
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(5)
        got = []
        if mode == "blocking":
            for _ in range(n):
                d = c.recv(32)
                got.append((time.time() - float(d)) * 1e6)
                c.sendall(b"k")
        elif mode == "epoll":
            c.setblocking(False)
            sel = selectors.EpollSelector()
            sel.register(c, selectors.EVENT_READ)
            for _ in range(n):
                if not sel.select(5):
                    raise RuntimeError("no message within 5 s")
                d = c.recv(32)
                got.append((time.time() - float(d)) * 1e6)
                c.sendall(b"k")
            sel.close()
        else:
            c.setblocking(False)

            async def read():
                loop = asyncio.get_running_loop()
                for _ in range(n):
                    d = await asyncio.wait_for(loop.sock_recv(c, 32), 5)
                    got.append((time.time() - float(d)) * 1e6)
                    await loop.sock_sendall(c, b"k")
            asyncio.run(read())
        w.wait(10)
        c.close()
        srv.close()
        out.append((f"tcp, {mode}", got))
    return out


def redis_lines(n):
    import redis.asyncio as aioredis
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                            "--appendonly", "no"], stdout=subprocess.DEVNULL)
    out = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        # blocking: one BZPOPMIN at a time on a raw socket
        w = writer("redis", port, n)
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        got = []
        for _ in range(n):
            s.sendall(b"*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nk\r\n$1\r\n5\r\n")
            reply = s.recv(1000).split(b"\r\n")  # *3 $1 k $len member $len score
            got.append((time.time() - float(reply[4])) * 1e6)
        s.close()
        w.wait(10)
        out.append(("via redis, blocking", got))

        async def pipelined():
            r = aioredis.Redis(port=port)
            w = writer("redis", port, n)
            got = []
            for _ in range(n):
                async with r.pipeline(transaction=False) as p:
                    p.bzpopmin("k", timeout=5)
                    p.zpopmin("k", 99)
                    first, _more = await p.execute()
                got.append((time.time() - float(first[1])) * 1e6)
            await r.close()
            w.wait(10)
            return got
        out.append(("via redis, redis-py", asyncio.run(pipelined())))
    finally:
        srv.terminate()
        srv.wait(10)
    return out


def main():
    ap = argparse.ArgumentParser(description="what one hop between two idle processes costs")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    n = max(10, min(a.count, 2000))
    print(f"one hop between idle processes, {n} messages per line, {os.cpu_count()} CPUs, "
          f"load {open('/proc/loadavg').read().split()[:3]}")
    for r in range(1, max(1, min(a.rounds, 10)) + 1):
        for name, us in tcp_lines(n) + redis_lines(n):
            p50, p90 = quantiles(us)
            print(f"  round {r}  {name:22s} p50 {p50:6.0f} us   p90 {p90:6.0f} us")


if __name__ == "__main__":
    main()
