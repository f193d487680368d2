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
#  - Three independent client libraries doing a real chat round trip, and
#    these frame rules again over TLS: test_conformance_clients.py.
#  - Hand-built frames and the raw peer live in conformance_peer.py.
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
import json
import os
import socket
import time
import unittest

import websockets.exceptions

from conformance_peer import *  # noqa: F401,F403  (frames, Peer, LiveGatewayCase)
from harness import Clients, arun, expect_close, recv_until, send_msg  # noqa: F401


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


if __name__ == "__main__":
    unittest.main()
