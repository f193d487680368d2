# harness_clients.py — WebSocket clients for the integration tests: the
# websockets library for ordinary traffic (every socket closed on exit), a
# raw client for frames a library refuses to send, and a TCP relay that can
# turn the connections through it silent (a dead path that never closes).
import asyncio
import base64
import contextlib
import json
import os
import socket
import ssl
import threading
import time

import websockets
import websockets.exceptions

from harness_base import *  # noqa: F401,F403
from harness_processes import Gateway  # noqa: F401

# --------------------------------------------------------------------------
# WebSocket clients

async def ws_connect(gw: Gateway, room: str, open_timeout: float = 10.0, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", 1 << 22)
    kw.setdefault("close_timeout", 2)
    if gw.ssl_context is not None:
        kw.setdefault("ssl", gw.ssl_context)
    return await websockets.connect(gw.ws_url(room), open_timeout=open_timeout, **kw)


async def handshake_status(url: str, timeout: float = 10.0) -> int:
    """HTTP status a WebSocket handshake to url gets (101 when it upgrades)."""
    try:
        ws = await websockets.connect(url, open_timeout=timeout, ping_interval=None,
                                      close_timeout=1)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


class Clients:
    """Async context manager that closes every WebSocket it opened."""

    def __init__(self):
        self.sockets = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close_all()

    async def connect(self, gw: Gateway, room: str, **kw):
        ws = await ws_connect(gw, room, **kw)
        self.sockets.append(ws)
        return ws

    async def close_all(self):
        socks, self.sockets = self.sockets, []
        if socks:
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in socks), return_exceptions=True), 10)


async def recv_json(ws, timeout: float = 5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    if not isinstance(raw, str):
        raise AssertionError(f"expected a text frame, got {type(raw).__name__}")
    return json.loads(raw)


async def first_message(sockets, timeout: float = 10.0):
    """The first JSON message any of sockets receives within timeout, or
    None; the other reads are cancelled (websockets allows cancelling recv,
    nothing is lost)."""
    tasks = [asyncio.ensure_future(recv_json(ws, timeout)) for ws in sockets]
    done, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    results = [t.result() for t in done if not t.exception()]
    return results[0] if results else None


async def recv_n(ws, n: int, timeout: float = 10.0):
    """Exactly n messages (in order), all within timeout."""
    async def body():
        return [await recv_json(ws, timeout) for _ in range(n)]
    return await asyncio.wait_for(body(), timeout)


async def recv_until(ws, pred, timeout: float = 5.0, limit: int = 100000):
    """Receive until pred(msg) is true; returns every message including that one."""
    got = []

    async def body():
        for _ in range(limit):
            m = await recv_json(ws, timeout)
            got.append(m)
            if pred(m):
                return got
        raise AssertionError(f"no matching message in {limit} messages")
    try:
        return await asyncio.wait_for(body(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s; received so far: {got[-20:]!r}")


# What the gateway stamps on a chat frame beside "message" (docs/protocol.md,
# Identity): the sender's user, and a history id and time (and "history"
# on a replayed line, docs/protocol.md, History). The seed's page
# reads only "message"; a test that compares whole frames of the seed's
# form compares what that page sees.
STAMPED = ("user", "id", "ts", "history")


def seed_view(frame):
    """A chat frame as the seed's page sees it: the stamped fields dropped."""
    if isinstance(frame, dict) and "message" in frame:
        return {k: v for k, v in frame.items() if k not in STAMPED}
    return frame


async def send_msg(ws, message: str):
    await ws.send(json.dumps({"message": message}))


async def expect_close(ws, timeout: float = 5.0):
    """Drain until the server closes; returns (close code, reason)."""
    async def drain():
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            for _ in range(100000):
                await ws.recv()
    await asyncio.wait_for(drain(), timeout)
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code, ws.close_reason


async def chat_works(sender, receivers, tag: str, timeout: float = 5.0):
    """sender sends a unique message; every receiver gets it (skipping earlier traffic)."""
    await send_msg(sender, tag)
    await asyncio.gather(*(recv_until(r, lambda m: m.get("message") == tag, timeout)
                           for r in receivers))


async def chat_eventually_works(sender, receivers, tag: str, timeout: float = 15.0,
                                attempt_timeout: float = 1.0):
    """Retry chat_works with fresh tags until one round trip succeeds (bounded)."""
    deadline = time.monotonic() + timeout
    last = None
    for i in range(int(timeout / attempt_timeout) + 2):
        if time.monotonic() >= deadline:
            break
        try:
            await chat_works(sender, receivers, f"{tag}#{i}", attempt_timeout)
            return i
        except (AssertionError, asyncio.TimeoutError) as e:
            last = e
    raise AssertionError(f"chat did not work within {timeout}s: {last}")


class RawWebSocket:
    """A hand-made blocking WebSocket client with a tiny receive buffer, for a
    consumer that does not read (websockets' client reads ahead for us)."""

    def __init__(self, port: int, path: str, rcvbuf: int = 4096, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        if ssl_context is not None:  # wss: the same frames, inside TLS
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        for _ in range(1000):
            if b"\r\n\r\n" in self.buf:
                break
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_exact(self, n: int):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                return None
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frames(self, max_frames: int = 100000):
        """Every frame until EOF or a close frame: list of (opcode, payload);
        the second value says whether the stream ended with a close frame."""
        frames = []
        try:
            for _ in range(max_frames):
                h = self._read_exact(2)
                if h is None:
                    return frames, False
                opcode, n = h[0] & 0x0F, h[1] & 0x7F
                if n == 126:
                    n = int.from_bytes(self._read_exact(2) or b"\0\0", "big")
                elif n == 127:
                    n = int.from_bytes(self._read_exact(8) or b"\0" * 8, "big")
                payload = self._read_exact(n)
                if payload is None:
                    return frames, False
                frames.append((opcode, payload))
                if opcode == 8:
                    return frames, True
        except ConnectionResetError:
            return frames, False
        raise AssertionError(f"more than {max_frames} frames")


# --------------------------------------------------------------------------
# A TCP relay (a NAT or proxy on the path, in the test process)

class TcpRelay:
    """A TCP relay on 127.0.0.1 to an upstream port. blackhole() makes every
    connection open so far go silent (bytes read and thrown away both ways,
    nothing closed), as a connection whose path died does; connections made
    afterwards are relayed normally."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = {"sockets": (client, upstream), "dead": False}
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    @staticmethod
    def _pump(src, dst, pair):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                if not pair["dead"]:
                    for s in pair["sockets"]:
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                return
            if pair["dead"]:
                continue
            try:
                dst.sendall(data)
            except OSError:
                return

    def connections(self) -> int:
        with self.lock:
            return len(self.pairs)

    def blackhole(self):
        with self.lock:
            for p in self.pairs:
                p["dead"] = True

    def close(self):
        self.closed = True
        self.listener.close()
        with self.lock:
            for p in self.pairs:
                for s in p["sockets"]:
                    try:
                        s.close()
                    except OSError:
                        pass
