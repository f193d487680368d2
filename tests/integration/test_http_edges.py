# test_http_edges.py — HTTP/1.1 requests the gateway must refuse at once.
#
# A real gateway (with layerd and Redis) and raw sockets: a request line
# without the HTTP version, an HTTP/1.1 request without Host (decided on
# the header, before any body), two Host headers, and conflicting framing
# (two different Content-Lengths, Content-Length with Transfer-Encoding)
# each get a 400 with a text body and then EOF, well before the request
# timeout; the refusals are counted in /metrics. The answers are the ones
# docs/protocol.md lists. Single-threaded: each test waits on its socket.
import socket
import time
import unittest

from harness import ProcessTestCase, http_request

READ_LIMIT = 5.0  # seconds; the gateway's request timeout is 30 s


class HttpEdges(ProcessTestCase):
    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=1)
        self.gw = self.c.gateways[0]

    def exchange(self, raw: bytes) -> bytes:
        """Sends raw bytes, then reads until EOF within READ_LIMIT seconds."""
        deadline = time.monotonic() + READ_LIMIT
        reply = b""
        with socket.create_connection(("127.0.0.1", self.gw.port), timeout=READ_LIMIT) as s:
            s.sendall(raw)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail(f"no EOF within {READ_LIMIT} s; got {reply[:200]!r}")
                s.settimeout(left)
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    self.fail(f"no EOF within {READ_LIMIT} s; got {reply[:200]!r}")
                if not chunk:
                    return reply
                reply += chunk

    def assert_refused(self, raw: bytes, says: bytes):
        reply = self.exchange(raw)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:200])
        self.assertIn(b"text/plain", reply)
        self.assertIn(says, reply.lower())

    def refusals(self) -> float:
        _, _, body = http_request(self.gw.port, "GET", "/metrics", timeout=5)
        for line in body.decode().splitlines():
            if line.startswith("switchboard_gateway_bad_requests_total"):
                return float(line.split()[-1])
        self.fail("no switchboard_gateway_bad_requests_total in /metrics")

    def test_a_request_line_without_the_version_is_refused(self):
        for raw in [b"GET / \r\n\r\n", b"GET /\r\n\r\n", b"GET / \r\nHost: x\r\n\r\n"]:
            with self.subTest(raw=raw):
                self.assert_refused(raw, b"version")

    def test_http11_without_host_is_refused_before_the_body(self):
        self.assert_refused(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", b"host")
        self.assert_refused(b"GET / HTTP/1.1\r\n\r\n", b"host")
        # HTTP/1.0 needs no Host
        reply = self.exchange(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.0 "), reply[:200])

    def test_two_host_headers_are_refused(self):
        self.assert_refused(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"host")

    def test_conflicting_framing_is_refused(self):
        for raw in [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
                    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"]:
            with self.subTest(raw=raw):
                self.assert_refused(raw, b"bad request")

    def test_refusals_are_counted(self):
        before = self.refusals()
        self.assert_refused(b"GET / \r\n\r\n", b"version")
        self.assert_refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"host")
        self.assertEqual(self.refusals(), before + 2)


if __name__ == "__main__":
    unittest.main()
