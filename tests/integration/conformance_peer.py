# conformance_peer.py — what the RFC 6455 conformance tests share: frames
# built by hand, a raw peer that reads and checks every server frame, and the
# test case base that starts one live gateway per test.
#
# Why by hand: the gateway owns its frame layer, so the tests must be able to
# send what no client library will (unmasked frames, RSV bits, bad lengths)
# and check every byte the server answers. Every read has a deadline.
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

import websockets.exceptions

from harness import (seed_view, BIN_DIR, REPO, Clients, ProcessTestCase, RawWebSocket, arun, make_self_signed,
                     expect_close, recv_until, send_msg)
SMALL = ["--max-message-size", "1024"]
BIG = ["--max-message-size", "200000"]
KEEPALIVE = ["--ping-interval-ms", "300", "--ping-timeout-ms", "300"]

READ_TIMEOUT = 5.0      # seconds any single expected answer may take
CLIENT_TIMEOUT = 25.0   # seconds a client-library subprocess may take

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# The messages every client library sends (beast_client.cpp and ws_client.js
# hold the same list): Unicode with JSON escapes, then 70,000 bytes of ASCII
# and 70,000 bytes of 3-byte UTF-8.
MESSAGES = [
    'unicode: héllo wörld, 你好, 로비, 🎉𝄞, שלום, "quoted" back\\slash tab\t.',
    "a" * 70000,
    "€" * 23333 + "a",
]
assert [len(m.encode()) for m in MESSAGES[1:]] == [70000, 70000]

BEAST_CLIENT = BIN_DIR / "sb_beast_ws_client"
NODE_CLIENT = REPO / "tests" / "conformance" / "ws_client.js"
NODE_PATH = "/usr/share/nodejs"   # where Debian's node-ws installs `ws`


# --------------------------------------------------------------------------
# frames

def apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    k = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(len(data), "big")


def frame(op: int, payload=b"", *, fin=True, rsv=0, masked=True, encoding=None,
          declared=None) -> bytes:
    """One client frame. encoding: 7, 16 or 64 (default: the minimal one);
    declared: the length written in the header (default: len(payload))."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if declared is None else declared
    if encoding is None:
        encoding = 7 if n < 126 else 16 if n < 65536 else 64
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    m = 0x80 if masked else 0
    if encoding == 7:
        head = bytes([b0, m | n])
    elif encoding == 16:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def chat(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


def close_payload(code: int, reason=b"") -> bytes:
    return code.to_bytes(2, "big") + reason


class Peer(RawWebSocket):
    """A raw client after a valid handshake: writes hand-built frames, reads
    the server's frames with deadlines and checks each against the RFC's
    rules for a server (recorded in .violations)."""

    def __init__(self, port: int, room: str, ssl_context=None):
        super().__init__(port, f"/ws/chat/{room}/", rcvbuf=1 << 20, timeout=READ_TIMEOUT,
                         ssl_context=ssl_context)
        if self.status != 101:
            self.close()
            raise AssertionError(f"handshake answered {self.status}, not 101")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.violations = []

    def send(self, *frames: bytes):
        self.sock.sendall(b"".join(frames))

    def send_bytewise(self, data: bytes, pause: float = 0.001):
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(pause)

    def _fill(self, n: int, deadline: float) -> str:
        """Buffer n bytes: 'ok', 'eof' or 'timeout'."""
        for _ in range(1_000_000):
            if len(self.buf) >= n:
                return "ok"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                return "timeout"
            except (ConnectionResetError, BrokenPipeError):
                return "eof"
            if not chunk:
                return "eof"
            self.buf += chunk
        raise AssertionError("unreachable")

    def next_frame(self, deadline: float):
        """(fin, opcode, payload), 'eof' or 'timeout'. Nothing is consumed
        unless a whole frame is there, so a timeout loses nothing."""
        r = self._fill(2, deadline)
        if r != "ok":
            return r
        b0, b1 = self.buf[0], self.buf[1]
        n, size = b1 & 0x7F, 2
        if n == 126:
            size = 4
        elif n == 127:
            size = 10
        if b1 & 0x80:
            size += 4
        r = self._fill(size, deadline)
        if r != "ok":
            return r
        if n == 126:
            n = int.from_bytes(self.buf[2:4], "big")
            if n < 126:
                self.violations.append(f"16-bit length for {n} bytes")
        elif n == 127:
            n = int.from_bytes(self.buf[2:10], "big")
            if n < 65536:
                self.violations.append(f"64-bit length for {n} bytes")
        r = self._fill(size + n, deadline)
        if r != "ok":
            return r
        payload = self.buf[size:size + n]
        if b1 & 0x80:
            self.violations.append("masked server frame")
            payload = apply_mask(payload, self.buf[size - 4:size])
        self.buf = self.buf[size + n:]
        fin, op = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            self.violations.append(f"RSV bits {b0 & 0x70:#x} in a server frame")
        if op >= 8 and (not fin or n > 125):
            self.violations.append(f"bad control frame op={op} fin={fin} len={n}")
        if op in (3, 4, 5, 6, 7) or op > 0xA:
            self.violations.append(f"reserved opcode {op} from the server")
        return fin, op, payload

    def until_close(self, timeout: float = READ_TIMEOUT):
        """Reads until a close frame or EOF. Returns (frames before it, close
        payload or None on EOF without one, whether TCP was then closed)."""
        deadline = time.monotonic() + timeout
        frames = []
        for _ in range(100_000):
            f = self.next_frame(deadline)
            if f == "timeout":
                raise AssertionError(f"no close frame within {timeout}s; frames so far "
                                     f"{[(op, p[:60]) for _, op, p in frames]!r}")
            if f == "eof":
                return frames, None, True
            if f[1] == OP_CLOSE:
                after = self.next_frame(time.monotonic() + timeout)
                return frames, f[2], after == "eof"
            frames.append(f)
        raise AssertionError("too many frames")

    def expect_close(self, tc: unittest.TestCase, code: int, timeout: float = READ_TIMEOUT):
        """Asserts the server's close frame carries `code`, is well formed,
        and that the server then closes TCP."""
        frames, payload, eof = self.until_close(timeout)
        tc.assertIsNotNone(payload, f"TCP closed without a close frame (wanted {code}); "
                                    f"frames before: {frames!r}")
        tc.assertGreaterEqual(len(payload), 2, f"close frame without a code: {payload!r}")
        got = int.from_bytes(payload[:2], "big")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            tc.fail(f"the server's close reason is not UTF-8: {payload[2:]!r}")
        tc.assertEqual(got, code, f"close code {got} (reason {reason!r}), wanted {code}")
        tc.assertTrue(eof, "the server did not close TCP after its close frame")
        tc.assertEqual(self.violations, [])
        return reason

    def until(self, pred, timeout: float = READ_TIMEOUT, what: str = "a frame"):
        """Frames until pred((fin, op, payload)) is true; returns all of them."""
        deadline = time.monotonic() + timeout
        got = []
        for _ in range(100_000):
            f = self.next_frame(deadline)
            if f in ("timeout", "eof"):
                raise AssertionError(f"{f} while waiting for {what}; got "
                                     f"{[(op, p[:80]) for _, op, p in got]!r}")
            got.append(f)
            if pred(f):
                return got
        raise AssertionError("too many frames")

    def until_message(self, message: str, timeout: float = READ_TIMEOUT):
        def is_it(f):
            return f[1] == OP_TEXT and seed_view(json.loads(f[2])) == {"message": message}
        return self.until(is_it, timeout, f"the message ({len(message)} chars)")

    def until_pong(self, payload: bytes, timeout: float = READ_TIMEOUT):
        return self.until(lambda f: f[1] == OP_PONG, timeout, f"a pong for {payload[:40]!r}")[-1][2]


def http_exchange(port: int, request: bytes, timeout: float = READ_TIMEOUT):
    """Sends a raw request; returns (status, {lower header: value}) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\r\n\r\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no complete response head within {timeout}s: {buf!r}")
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    head = buf.partition(b"\r\n\r\n")[0].decode("latin-1")
    lines = head.split("\r\n")
    if not lines[0].startswith("HTTP/1.1 "):
        raise AssertionError(f"not an HTTP response: {buf[:200]!r}")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def upgrade_request(port: int, path: str, key="dGhlIHNhbXBsZSBub25jZQ==", version="13",
                    method="GET", extra="") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def expected_accept(key: str) -> str:
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


class LiveGatewayCase(ProcessTestCase):
    """One Redis, one layerd, one gateway (with `args`) per test."""

    def live(self, args=()):
        gw = self.start_cluster(layerds=1, gateways=1, gateway_args=list(args)).gateways[0]
        # Runs before the processes are stopped: no input may kill the gateway.
        self.addCleanup(lambda: gw.check_alive("the end of the test"))
        return gw

    def room(self) -> str:
        return "conf" + os.urandom(4).hex()

    def peer(self, gw, room=None) -> Peer:
        p = Peer(gw.port, room or self.room(), ssl_context=gw.ssl_context)
        self.addCleanup(p.close)
        return p

    def assert_closes(self, gw, code: int, *frames: bytes):
        """A fresh connection sends frames and must be closed with `code`."""
        p = self.peer(gw)
        p.send(*frames)
        return p.expect_close(self, code)
