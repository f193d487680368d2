# harness_base.py — what every part of the integration harness shares: the
# paths of the binaries under test, bounded waits, name rules, and a tiny
# Redis client (RESP over a socket, so tests need no Redis library).
#
# Why a module of its own: harness_processes and harness_clients both build
# on it, and harness.py re-exports all three so a test imports one name.
# Stdlib only. Every wait has a deadline and a bounded number of rounds.
import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

import websockets
import websockets.exceptions

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("SB_BIN_DIR", str(REPO / "build" / "bin")))
GATEWAY_BIN = BIN_DIR / "switchboard-gateway"
LAYERD_BIN = BIN_DIR / "switchboard-layerd"
REDIS_BIN = Path(os.environ.get("SB_REDIS_SERVER", "/usr/bin/redis-server"))
# The option tables (one per binary) that test_cli.py holds against --help.
OPERATIONS_DOC = REPO / "docs" / "operations.md"
CLI_BIN = BIN_DIR / "switchboard-cli"
# The seed's pages (the Django tutorial templates), which the gateway must serve unchanged.
SEED_DIR = Path(os.environ.get("SB_SEED_DIR", str(REPO / "gateway" / "pages")))

START_TIMEOUT = 10.0  # seconds a process gets to become ready
POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------
# small utilities

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class WaitTimeout(AssertionError):
    pass


def wait_until(pred, timeout: float, what: str, interval: float = POLL_INTERVAL):
    """Call pred() until it returns a truthy value; bounded in time and rounds."""
    deadline = time.monotonic() + timeout
    rounds = int(timeout / interval) + 2
    last = None
    for _ in range(rounds):
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last={last!r})")


async def await_until(pred, timeout: float, what: str, interval: float = POLL_INTERVAL):
    """Async wait_until; pred may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    rounds = int(timeout / interval) + 2
    last = None
    for _ in range(rounds):
        last = pred()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last={last!r})")


def arun(coro, timeout: float):
    """Run one async test body, bounded by asyncio.wait_for."""
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout))


def group_name(room: str) -> str:
    """The room -> group rule of docs/protocol.md (Rooms, groups and channel names)."""
    g = "chat_" + room
    if g.isascii() and len(g) < 100:
        return g
    return "chat_." + hashlib.sha1(room.encode("utf-8")).hexdigest()[:32]


def group_key(room: str, prefix: str = "asgi") -> str:
    return f"{prefix}:group:{group_name(room)}"


def channel_re(gateway_id: str) -> re.Pattern:
    """specific.<id>.<16 hex>!<conn id>"""
    return re.compile(r"^specific\." + re.escape(gateway_id) + r"\.[0-9a-f]{16}![^\s!]+$")


# --------------------------------------------------------------------------
# a tiny RESP (Redis protocol) client

class RedisError(Exception):
    pass


class Resp:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 2.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rf = self.sock.makefile("rb")

    def close(self):
        with contextlib.suppress(OSError):
            self.rf.close()
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode("utf-8")
            elif not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self) -> bytes:
        line = self.rf.readline(1 << 20)
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis connection closed")
        return line[:-2]

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError(f"bad reply {line!r}")


def redis_cmd(port: int, *args, timeout: float = 2.0):
    with Resp(port, timeout=timeout) as r:
        return r.command(*args)
