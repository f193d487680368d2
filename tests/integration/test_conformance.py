# RFC 6455 conformance of a LIVE gateway (real redis-server, layerd and
# switchboard-gateway on loopback, started by harness.py).
#
# What it covers:
#  - Raw frames, built by hand and written to a TCP socket after a valid
#    handshake to /ws/chat/<room>/: every frame-level violation gets the
#    close code RFC 6455 names for it (1002 protocol error: unmasked frame,
#    RSV bits, reserved opcodes, continuation without a message, a new
#    message inside a fragmented one, control frames over 125 bytes or
#    fragmented, non-minimal or top-bit-set lengths, a 1-byte close payload,
#    invalid close codes; 1007: text or close reasons that are not UTF-8,
#    also when split across fragments; 1003: binary; 1009: over
#    --max-message-size, already when only the header has arrived), and the
#    valid cases work (pings answered with the same payload, also inside a
#    fragmented message; multi-byte UTF-8 split across fragments; 7-, 16-
#    and 64-bit lengths; frames dribbled in 1-byte TCP writes; a close
#    handshake echoed before the server closes TCP). Every frame the server
#    sends is itself checked (unmasked, no RSV bits, minimal length, control
#    frames final and <= 125 bytes).
#  - The opening handshake: the Sec-WebSocket-Accept of the 101, and the
#    refusals (missing or malformed key -> 400, version 8 -> 426 naming
#    version 13, POST -> 400/405).
#  - Server keepalive (--ping-interval-ms/--ping-timeout-ms): a client that
#    answers pings stays; a silent one is dropped within a bound.
#  - Three independent client libraries doing a real chat round trip
#    (Unicode, 70,000-byte messages, close 1009 for an oversize message):
#    Python `websockets` (with and without offering permessage-deflate),
#    Node's `ws` (tests/conformance/ws_client.js, Debian's node-ws) and
#    Boost.Beast's client (tests/conformance/beast_client.cpp, built as
#    build/bin/sb_beast_ws_client).
#
# Why: the gateway speaks RFC 6455 through its own frame layer
# (gateway/ws_frame.*, ws_handshake.*, websocket_session.*), not a library,
# so its unit tests only show it agrees with itself. These cases pin what
# the RFC says against the running daemon, and the foreign clients show
# that real implementations interoperate with it. A case that fails here
# is a gateway bug: the test states what the RFC requires.
#
# Every read has a deadline (READ_TIMEOUT unless stated), every subprocess
# a timeout; the only timing assertions are the keepalive bounds.
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

from harness import (BIN_DIR, REPO, Clients, ProcessTestCase, RawWebSocket, arun, make_self_signed,
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
            return f[1] == OP_TEXT and json.loads(f[2]) == {"message": message}
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


# --------------------------------------------------------------------------
# raw frames

class FrameViolations(LiveGatewayCase):
    """Each violation of RFC 6455 section 5 fails the connection with the RFC's code."""

    def test_an_unmasked_client_frame_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_TEXT, chat("unmasked"), masked=False))

    def test_rsv1_rsv2_rsv3_close_with_1002(self):
        gw = self.live(SMALL)
        for rsv in (4, 2, 1):   # RSV1, RSV2, RSV3 (no extension was negotiated)
            with self.subTest(rsv=rsv):
                self.assert_closes(gw, 1002, frame(OP_TEXT, chat("rsv"), rsv=rsv))

    def test_reserved_opcodes_close_with_1002(self):
        gw = self.live(SMALL)
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
            with self.subTest(opcode=op):
                self.assert_closes(gw, 1002, frame(op, b"x"))

    def test_a_continuation_without_a_message_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_CONT, chat("orphan")))

    def test_a_new_text_frame_inside_a_fragmented_message_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_TEXT, b'{"message": "a', fin=False),
                           frame(OP_TEXT, b'b"}'))

    def test_a_ping_with_a_126_byte_payload_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_PING, b"p" * 126))

    def test_a_fragmented_ping_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_PING, b"frag", fin=False))

    def test_non_minimal_length_encodings_close_with_1002(self):
        gw = self.live(BIG)
        body = chat("x")
        cases = [
            ("16-bit for a 7-bit length", frame(OP_TEXT, body, encoding=16)),
            ("16-bit for 125", frame(OP_TEXT, chat("y" * 110), encoding=16)),
            ("64-bit for a 7-bit length", frame(OP_TEXT, body, encoding=64)),
            ("64-bit for a 16-bit length", frame(OP_TEXT, chat("z" * 500), encoding=64)),
            ("64-bit for 65535", frame(OP_TEXT, chat("w" * 65520), encoding=64)),
        ]
        self.assertEqual(len(chat("y" * 110)), 125)
        self.assertEqual(len(chat("w" * 65520)), 65535)
        for name, f in cases:
            with self.subTest(name):
                self.assert_closes(gw, 1002, f)

    def test_a_64_bit_length_with_the_top_bit_set_closes_with_1002(self):
        gw = self.live(BIG)
        for declared in ((1 << 63) | 200, (1 << 64) - 1):
            with self.subTest(length=hex(declared)):
                f = frame(OP_TEXT, b"", encoding=64, declared=declared)
                self.assert_closes(gw, 1002, f + b"x" * 16)

    def test_a_close_frame_with_a_1_byte_payload_closes_with_1002(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1002, frame(OP_CLOSE, b"\x03"))

    def test_a_close_with_an_invalid_code_closes_with_1002(self):
        gw = self.live(SMALL)
        # 999/0: unused; 1004, 1005, 1006, 1015: reserved, never on the wire; 1016, 2999: reserved; 5000: out of range
        for code in (999, 1005, 1006, 1016, 5000, 0, 1004, 1015, 2999):
            with self.subTest(code=code):
                self.assert_closes(gw, 1002, frame(OP_CLOSE, close_payload(code, b"bad")))

    def test_a_binary_frame_closes_with_1003(self):
        gw = self.live(SMALL)
        self.assert_closes(gw, 1003, frame(OP_BINARY, b"\x00\x01\x02binary"))


class Utf8(LiveGatewayCase):
    """Text must be UTF-8 (RFC 6455 8.1); invalid data fails with 1007, checked across fragments."""

    def test_invalid_utf8_in_a_text_message_closes_with_1007(self):
        gw = self.live(SMALL)
        for name, bad in [("0xff", b"\xff"), ("overlong /", b"\xc0\xaf"),
                          ("surrogate U+D800", b"\xed\xa0\x80"),
                          ("above U+10FFFF", b"\xf4\x90\x80\x80"),
                          ("lone continuation", b"\x80"),
                          ("truncated at the end", b"\xe2\x82")]:
            with self.subTest(name):
                tail = b"" if name == "truncated at the end" else b'"}'
                self.assert_closes(gw, 1007, frame(OP_TEXT, b'{"message": "' + bad + tail))

    def test_invalid_utf8_split_across_fragments_closes_with_1007(self):
        gw = self.live(SMALL)
        cases = [
            ("bad continuation in the next fragment",
             [b'{"message": "\xe2', b'\x28\xa1"}']),
            ("surrogate split", [b'{"message": "\xed', b'\xa0\x80"}']),
            ("4-byte sequence cut by a quote", [b'{"message": "\xf0\x9f', b'\x8e"}']),
            ("message ends inside a sequence", [b'{"message": "ok', b'\xe2\x82']),
            ("invalid in a middle fragment", [b'{"message": "a', b"\xc3\x28", b'"}']),
        ]
        for name, parts in cases:
            with self.subTest(name):
                frames = [frame(OP_TEXT if i == 0 else OP_CONT, part, fin=i == len(parts) - 1)
                          for i, part in enumerate(parts)]
                self.assert_closes(gw, 1007, *frames)

    def test_valid_multibyte_utf8_split_across_fragments_is_delivered(self):
        gw = self.live(SMALL)
        room = self.room()
        sender, bystander = self.peer(gw, room), self.peer(gw, room)
        text = "€🎉 — 로비"
        raw = ('{"message": "' + text + '"}').encode("utf-8")   # raw UTF-8, not \u escapes
        # Cut inside every multi-byte sequence: after e2, after 82, inside the emoji ...
        cuts = [14, 15, 17, 18, 20, 23, len(raw) - 3]
        parts = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
        self.assertEqual(b"".join(parts), raw)
        sender.send(*[frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
                      for i, p in enumerate(parts)])
        for p in (bystander, sender):
            p.until_message(text)
            self.assertEqual(p.violations, [])

    def test_a_close_reason_that_is_not_utf8_closes_with_1007(self):
        gw = self.live(SMALL)
        for name, reason in [("0xff 0xfe", b"\xff\xfe"), ("truncated", b"ok\xe2\x82"),
                             ("surrogate", b"\xed\xa0\x80")]:
            with self.subTest(name):
                self.assert_closes(gw, 1007, frame(OP_CLOSE, close_payload(1000, reason)))


class CloseHandshake(LiveGatewayCase):
    """RFC 6455 5.5.1 / 7.1: a close is answered with a close, then the server closes TCP."""

    def test_a_valid_close_is_echoed_with_1000_and_the_server_closes_tcp(self):
        gw = self.live(SMALL)
        p = self.peer(gw)
        p.send(frame(OP_CLOSE, close_payload(1000, b"bye")))
        p.expect_close(self, 1000)

    def test_other_valid_codes_and_an_empty_close_are_answered_with_a_close(self):
        gw = self.live(SMALL)
        for code in (1001, 1010, 3000, 4999, None):
            with self.subTest(code=code):
                p = self.peer(gw)
                p.send(frame(OP_CLOSE, b"" if code is None else close_payload(code, "ok ✓".encode())))
                frames, payload, eof = p.until_close()
                self.assertIsNotNone(payload, "no close frame in answer")
                self.assertTrue(eof, "the server did not close TCP after its close frame")
                if payload:
                    got = int.from_bytes(payload[:2], "big")
                    self.assertNotIn(got, (1002, 1007), f"a valid close was treated as an error: {payload!r}")
                self.assertEqual(p.violations, [])


class MessageSize(LiveGatewayCase):
    """--max-message-size 1024: a larger message fails with 1009 (RFC 6455 7.4.1)."""

    def test_a_message_over_the_limit_closes_with_1009_even_when_only_the_header_arrived(self):
        gw = self.live(SMALL)
        key = os.urandom(4)
        cases = [
            ("header only, 16-bit length 2000", [bytes([0x81, 0xFE]) + (2000).to_bytes(2, "big") + key]),
            ("header only, 64-bit length 2**40", [bytes([0x81, 0xFF]) + (1 << 40).to_bytes(8, "big") + key]),
            ("whole 2000-byte message", [frame(OP_TEXT, chat("x" * 2000))]),
            ("fragments of 600 + 600", [frame(OP_TEXT, b"x" * 600, fin=False), frame(OP_CONT, b"y" * 600)]),
            ("600-byte fragment, then only the header of a 600-byte continuation",
             [frame(OP_TEXT, b"x" * 600, fin=False), bytes([0x80, 0xFE]) + (600).to_bytes(2, "big") + key]),
        ]
        for name, frames in cases:
            with self.subTest(name):
                self.assert_closes(gw, 1009, *frames)

    def test_a_message_of_exactly_the_limit_is_delivered(self):
        gw = self.live(SMALL)
        p = self.peer(gw)
        text = "e" * (1024 - len(chat("")))
        self.assertEqual(len(chat(text)), 1024)
        p.send(frame(OP_TEXT, chat(text)))
        p.until_message(text)
        raw = chat(text[:-1] + "f")
        p.send(frame(OP_TEXT, raw[:500], fin=False), frame(OP_CONT, raw[500:]))
        p.until_message(text[:-1] + "f")
        self.assertEqual(p.violations, [])


class ValidTraffic(LiveGatewayCase):
    """Control frames, lengths and fragmentation that the RFC allows all work."""

    def test_a_ping_is_answered_with_a_pong_carrying_the_same_payload(self):
        gw = self.live(SMALL)
        p = self.peer(gw)
        for payload in (b"", b"hello", os.urandom(125), b"\xff\x00\xfe not utf-8"):
            with self.subTest(size=len(payload)):
                p.send(frame(OP_PING, payload))
                self.assertEqual(p.until_pong(payload), payload)
        self.assertEqual(p.violations, [])

    def test_a_ping_inside_a_fragmented_message_is_answered_and_the_message_delivered(self):
        gw = self.live(SMALL)
        room = self.room()
        sender, bystander = self.peer(gw, room), self.peer(gw, room)
        text = "interleaved ping ✓"
        raw = ('{"message": "' + text + '"}').encode()
        sender.send(frame(OP_TEXT, raw[:10], fin=False), frame(OP_PING, b"mid-message"))
        # The pong comes while the message is still open (RFC 6455 5.4).
        self.assertEqual(sender.until_pong(b"mid-message"), b"mid-message")
        sender.send(frame(OP_CONT, raw[10:20], fin=False), frame(OP_PING, b"again"),
                    frame(OP_CONT, raw[20:]))
        got = sender.until_message(text)
        if not any(f[1] == OP_PONG and f[2] == b"again" for f in got):
            self.assertEqual(sender.until_pong(b"again"), b"again")
        bystander.until_message(text)
        self.assertEqual(sender.violations + bystander.violations, [])

    def test_7_16_and_64_bit_payload_lengths_are_delivered_intact(self):
        gw = self.live(BIG)
        room = self.room()
        sender, bystander = self.peer(gw, room), self.peer(gw, room)
        for size in (125, 126, 65535, 65536):
            with self.subTest(size=size):
                text = "".join(chr(0x41 + (i % 26)) for i in range(size - len(chat(""))))
                raw = chat(text)
                self.assertEqual(len(raw), size)
                sender.send(frame(OP_TEXT, raw))
                for p in (sender, bystander):
                    p.until_message(text, timeout=10)
        self.assertEqual(sender.violations + bystander.violations, [])

    def test_frames_split_into_1_byte_tcp_writes_still_work(self):
        gw = self.live(SMALL)
        room = self.room()
        sender, bystander = self.peer(gw, room), self.peer(gw, room)
        sender.send_bytewise(frame(OP_PING, b"dribble"))
        self.assertEqual(sender.until_pong(b"dribble"), b"dribble")
        text = "slow " * 60  # 16-bit length: the extended length arrives byte by byte too
        sender.send_bytewise(frame(OP_TEXT, chat(text)))
        for p in (sender, bystander):
            p.until_message(text)
        raw = chat("in two slow fragments")
        sender.send_bytewise(frame(OP_TEXT, raw[:9], fin=False) + frame(OP_CONT, raw[9:]))
        for p in (sender, bystander):
            p.until_message("in two slow fragments")
        self.assertEqual(sender.violations + bystander.violations, [])


# --------------------------------------------------------------------------
# the opening handshake

class OpeningHandshake(LiveGatewayCase):
    """RFC 6455 4.2.1 / 4.2.2."""

    def test_the_101_carries_the_correct_sec_websocket_accept(self):
        gw = self.live(SMALL)
        path = f"/ws/chat/{self.room()}/"
        # The RFC's own example, then a random key.
        self.assertEqual(expected_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        for key in ("dGhlIHNhbXBsZSBub25jZQ==", base64.b64encode(os.urandom(16)).decode()):
            with self.subTest(key=key):
                status, headers = http_exchange(gw.port, upgrade_request(gw.port, path, key=key))
                self.assertEqual(status, 101, headers)
                self.assertEqual(headers.get("sec-websocket-accept"), expected_accept(key))
                self.assertEqual(headers.get("upgrade", "").lower(), "websocket")
                self.assertIn("upgrade", headers.get("connection", "").lower())
                # Nothing was offered, so nothing may be selected.
                self.assertNotIn("sec-websocket-extensions", headers)
                self.assertNotIn("sec-websocket-protocol", headers)

    def test_a_missing_or_malformed_key_is_refused_with_400(self):
        gw = self.live(SMALL)
        path = f"/ws/chat/{self.room()}/"
        for name, key in [("missing", None), ("empty", ""), ("not base64", "!" * 22 + "=="),
                          ("3 characters", "abc"),
                          ("15 bytes", base64.b64encode(b"x" * 15).decode()),
                          ("17 bytes", base64.b64encode(b"x" * 17).decode())]:
            with self.subTest(name):
                status, headers = http_exchange(gw.port, upgrade_request(gw.port, path, key=key))
                self.assertEqual(status, 400, headers)

    def test_version_8_is_refused_with_426_naming_version_13(self):
        gw = self.live(SMALL)
        status, headers = http_exchange(
            gw.port, upgrade_request(gw.port, f"/ws/chat/{self.room()}/", version="8"))
        self.assertEqual(status, 426, headers)
        self.assertEqual(headers.get("sec-websocket-version"), "13")

    def test_a_post_with_upgrade_headers_is_refused(self):
        gw = self.live(SMALL)
        status, headers = http_exchange(
            gw.port, upgrade_request(gw.port, f"/ws/chat/{self.room()}/", method="POST",
                                     extra="Content-Length: 0\r\n"))
        self.assertIn(status, (400, 405), headers)


# --------------------------------------------------------------------------
# keepalive

class Keepalive(LiveGatewayCase):
    """--ping-interval-ms 300 --ping-timeout-ms 300. The gateway sweeps
    connections once a second, so a silent peer is pinged at the first or
    second sweep and dropped at the next: within ~2.3 s; we allow 3 s."""

    SILENT_DROP_BOUND = 3.0

    def test_a_client_that_answers_pings_stays_connected(self):
        gw = self.live(KEEPALIVE)
        room = self.room()
        p = self.peer(gw, room)
        pings = 0
        end = time.monotonic() + 3.0
        for _ in range(10_000):
            f = p.next_frame(end)
            if f == "timeout":
                break
            self.assertNotEqual(f, "eof", f"dropped after {pings} pings although it answered")
            fin, op, payload = f
            self.assertNotEqual(op, OP_CLOSE, f"closed: {payload!r}")
            if op == OP_PING:
                pings += 1
                p.send(frame(OP_PONG, payload))
        self.assertGreaterEqual(pings, 1, "no ping in 3 s with --ping-interval-ms 300")
        # Still open and usable.
        p.send(frame(OP_TEXT, chat("still here")))
        p.until_message("still here")
        self.assertEqual(p.violations, [])

    def test_a_client_that_never_answers_is_dropped(self):
        gw = self.live(KEEPALIVE)
        p = self.peer(gw)
        start = time.monotonic()
        deadline = start + self.SILENT_DROP_BOUND
        seen = []
        for _ in range(10_000):
            f = p.next_frame(deadline)
            if f == "timeout":
                self.fail(f"still connected after {self.SILENT_DROP_BOUND}s; frames {seen!r}")
            if f == "eof":
                break
            seen.append(f[1])
        elapsed = time.monotonic() - start
        self.assertIn(OP_PING, seen, "dropped without being pinged first")
        self.assertLess(elapsed, self.SILENT_DROP_BOUND)


# --------------------------------------------------------------------------
# independent client libraries

async def run_client(argv, env=None, timeout: float = CLIENT_TIMEOUT):
    """Runs a client program; returns (exit status, stdout lines, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish within {timeout}s")
    return proc.returncode, out.decode(errors="replace").splitlines(), err.decode(errors="replace")


class ClientLibraries(LiveGatewayCase):
    """Python websockets, Node ws and Boost.Beast clients against the gateway."""

    def py_echo(self, gw, **kw):
        async def body():
            async with Clients() as cl:
                room = self.room()
                ws = await cl.connect(gw, room, **kw)
                bystander = await cl.connect(gw, room)
                self.assertEqual(ws.extensions, [], "an extension was negotiated")
                self.assertNotIn("Sec-WebSocket-Extensions", ws.response_headers)
                for m in MESSAGES:
                    await send_msg(ws, m)
                    for w in (ws, bystander):
                        await recv_until(w, lambda x, m=m: x.get("message") == m, 10)
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
        arun(body(), 40)

    def test_python_websockets_offering_permessage_deflate_still_works(self):
        self.py_echo(self.live(BIG))   # websockets offers permessage-deflate by default

    def test_python_websockets_without_compression(self):
        self.py_echo(self.live(BIG), compression=None)

    def test_python_websockets_a_100_kb_message(self):
        gw = self.live(BIG)

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, self.room())
                # 100,000 bytes of ASCII, then 100,000 bytes of 2-byte UTF-8 sent
                # unescaped (json.dumps' default \u00fc would make it 300 KB).
                for m in ("x" * 100_000, "ü" * 50_000):
                    await ws.send(json.dumps({"message": m}, ensure_ascii=False))
                    await recv_until(ws, lambda x, m=m: x.get("message") == m, 10)
        arun(body(), 30)

    def test_python_websockets_oversize_gets_1009(self):
        gw = self.live(SMALL)

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, self.room())
                with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                    await send_msg(ws, "x" * 2000)
                code, _ = await expect_close(ws, READ_TIMEOUT)
                self.assertEqual(code, 1009)
        arun(body(), 30)

    # ---- Node ws and Boost.Beast: echo (with a bystander checking the content), ping, oversize

    def node_argv(self, url, scenario):
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None or not os.path.isdir(os.path.join(NODE_PATH, "ws")):
            self.fail("needs Debian's nodejs and node-ws (apt-get install -y nodejs node-ws)")
        return [node, NODE_CLIENT, url, scenario]

    def beast_argv(self, url, scenario):
        if not BEAST_CLIENT.exists():
            self.fail(f"{BEAST_CLIENT} not built (cmake --build build --target sb_beast_ws_client)")
        return [BEAST_CLIENT, url, scenario]

    def run_scenario(self, argv_for, gw, scenario, bystander_gets=()):
        env = dict(os.environ, NODE_PATH=NODE_PATH)

        async def body():
            async with Clients() as cl:
                room = self.room()
                bystander = await cl.connect(gw, room)
                rc, lines, err = await run_client(argv_for(gw.ws_url(room), scenario), env=env)
                self.assertEqual((rc, lines[-1:]), (0, ["DONE"]), f"stdout {lines!r}\nstderr {err[-2000:]}")
                for m in bystander_gets:
                    await recv_until(bystander, lambda x, m=m: x.get("message") == m, 10)
                return lines
        return arun(body(), CLIENT_TIMEOUT + 15)

    def check_echo(self, lines):
        for i, m in enumerate(MESSAGES):
            self.assertIn(f"ECHO {i} {len(m.encode())} OK", lines)
        self.assertIn("CLOSE 1000", lines)

    def test_node_ws_echo(self):
        gw = self.live(BIG)
        lines = self.run_scenario(self.node_argv, gw, "echo", MESSAGES)
        self.check_echo(lines)
        self.assertIn('OPEN extensions=""', lines)   # permessage-deflate offered, not negotiated

    def test_node_ws_ping(self):
        gw = self.live(SMALL)
        lines = self.run_scenario(self.node_argv, gw, "ping")
        self.assertIn("PONG " + "node-ping-€".encode().hex() + " OK", lines)

    def test_node_ws_oversize_gets_1009(self):
        gw = self.live(SMALL)
        self.assertIn("CLOSE 1009", self.run_scenario(self.node_argv, gw, "oversize"))

    def test_beast_echo(self):
        gw = self.live(BIG)
        self.check_echo(self.run_scenario(self.beast_argv, gw, "echo", MESSAGES))

    def test_beast_ping(self):
        gw = self.live(SMALL)
        lines = self.run_scenario(self.beast_argv, gw, "ping")
        self.assertIn("PONG " + "beast-ping-€".encode().hex() + " OK", lines)

    def test_beast_oversize_gets_1009(self):
        gw = self.live(SMALL)
        self.assertIn("CLOSE 1009", self.run_scenario(self.beast_argv, gw, "oversize"))


# --------------------------------------------------------------------------
# the same frame rules over TLS (--tls-cert): one frame layer, two transports

class OverTls:
    """Mixin: the gateway serves wss (a self-signed certificate made for the
    test); the raw peer speaks the same hand-built frames inside TLS."""

    def live(self, args=()):
        if not shutil.which("openssl"):
            self.skipTest("needs the openssl command")
        cert, key = make_self_signed(self.workdir, "conformance")
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        gw = self.start_gateway([layerd.endpoint], extra_args=list(args), tls=(cert, key))
        self.addCleanup(lambda: gw.check_alive("the end of the test"))
        return gw


class FrameViolationsOverTls(OverTls, FrameViolations):
    pass


class Utf8OverTls(OverTls, Utf8):
    pass


class CloseHandshakeOverTls(OverTls, CloseHandshake):
    pass


class MessageSizeOverTls(OverTls, MessageSize):
    pass


class ValidTrafficOverTls(OverTls, ValidTraffic):
    pass


if __name__ == "__main__":
    unittest.main()
