# test_tls.py — https and wss served by the gateway itself (--tls-cert/--tls-key).
#
# Every test makes its own self-signed certificate with the openssl
# command, and clients trust exactly that certificate (hostname checked),
# so a test passes only if the gateway really presents it. Covered: pages,
# /healthz and chat over TLS, across a TLS and a plain gateway in one room;
# large messages in both directions; plain HTTP on the TLS port (a readable
# 400); broken and refused handshakes (counted, logged, nobody else hurt);
# bad certificate options (clear exit codes); SIGHUP picking up a renewed
# certificate while open sockets keep chatting; drain (1001) over TLS.
import json
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

import websockets

from harness import (GATEWAY_BIN, ProcessTestCase, RawWebSocket, arun, client_tls_context, free_port, http_request,
                     make_self_signed, recv_json, scrape_metrics, send_msg, wait_until, ws_connect)

HAVE_OPENSSL = shutil.which("openssl") is not None


def scrape(gw):
    return scrape_metrics(gw.port, gw.ssl_context)


def peer_certificate(port: int) -> bytes:
    """The DER certificate the server presents (not verified: compared by the caller)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def der(cert_path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(open(cert_path).read())


@unittest.skipUnless(HAVE_OPENSSL, "needs the openssl command (apt-get install openssl)")
class Tls(ProcessTestCase):
    def setUp(self):
        self.cert, self.key = make_self_signed(self.workdir, "gw")

    def start_pair(self, tls_args=()):
        """One layerd, a TLS gateway and a plain one."""
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        tls_gw = self.start_gateway([layerd.endpoint], id="gwtls", tls=(self.cert, self.key), extra_args=tls_args)
        plain_gw = self.start_gateway([layerd.endpoint], id="gwplain")
        return tls_gw, plain_gw

    def test_pages_health_and_chat_over_tls_meet_plain_clients_in_the_same_room(self):
        tls_gw, plain_gw = self.start_pair()
        ctx = tls_gw.ssl_context
        status, headers, body = http_request(tls_gw.port, "GET", "/chat/", ssl_context=ctx)
        self.assertEqual(status, 200)
        self.assertIn(b'id="room-name-input"', body)
        # The room pages (the chat page and the seed's) pick wss:// when loaded over https.
        for page in ("/chat/lobby/", "/classic/chat/lobby/"):
            status, _, body = http_request(tls_gw.port, "GET", page, ssl_context=ctx)
            self.assertEqual(status, 200, page)
            self.assertIn(b"window.location.protocol === 'https:' ? 'wss://' : 'ws://'", body, page)
        status, _, body = http_request(tls_gw.port, "GET", "/healthz", ssl_context=ctx)
        self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
        self.assertEqual(peer_certificate(tls_gw.port), der(self.cert))

        async def body_():
            a = await ws_connect(tls_gw, "lobby")
            b = await ws_connect(tls_gw, "lobby")
            c = await ws_connect(plain_gw, "lobby")
            await send_msg(a, "from tls")
            await send_msg(c, "from plain")
            for ws in (a, b, c):
                got = [(await recv_json(ws, 10))["message"] for _ in range(2)]
                self.assertEqual(sorted(got), ["from plain", "from tls"])
            # Messages larger than a TLS record, in both directions, in order.
            big = [f"{i}:" + "x" * (40000 + i * 997) for i in range(12)]
            for m in big:
                await send_msg(b, m)
            for ws in (a, b, c):
                for m in big:
                    self.assertEqual((await recv_json(ws, 10))["message"], m)
            for ws in (a, b, c):
                await ws.close()
        arun(body_(), 60)
        m = scrape(tls_gw)
        self.assertGreaterEqual(m["switchboard_gateway_tls_handshakes_total"], 3)
        self.assertEqual(m['switchboard_gateway_tls_failures_total{reason="handshake"}'], 0)

    def test_a_reader_that_falls_behind_gets_everything_in_order(self):
        # A tiny receive window and no reading: the gateway's TLS writes
        # must wait for the socket and go on where they stopped.
        # 6 MB is more than the kernel will buffer (tcp_wmem's 4 MB at most).
        tls_gw, _ = self.start_pair(["--send-queue-bytes", str(16 << 20)])
        slow = RawWebSocket(tls_gw.port, "/ws/chat/slow/", rcvbuf=4096, ssl_context=tls_gw.ssl_context, timeout=30)
        self.addCleanup(slow.close)
        self.assertEqual(slow.status, 101)
        msgs = [f"{i}:" + "z" * 60000 for i in range(100)]

        async def body():
            sender = await ws_connect(tls_gw, "slow")
            for m in msgs:
                await send_msg(sender, m)
            for m in msgs:
                self.assertEqual((await recv_json(sender, 10))["message"], m)
            await sender.close()
        arun(body(), 60)
        got = []
        for _ in msgs:
            head = slow._read_exact(2)
            n = head[1] & 0x7F
            if n == 126:
                n = int.from_bytes(slow._read_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(slow._read_exact(8), "big")
            self.assertEqual(head[0] & 0x0F, 1)
            got.append(json.loads(slow._read_exact(n))["message"])
        self.assertEqual(got, msgs)

    def test_plain_http_on_the_tls_port_gets_a_readable_400(self):
        tls_gw, _ = self.start_pair()
        status, _, body = http_request(tls_gw.port, "GET", "/chat/")
        self.assertEqual(status, 400)
        self.assertIn(b"this port serves TLS: use https:// or wss://", body)

        async def plain_ws():
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                await websockets.connect(f"ws://127.0.0.1:{tls_gw.port}/ws/chat/lobby/", open_timeout=5)
            self.assertEqual(cm.exception.status_code, 400)
        arun(plain_ws(), 20)
        self.assertEqual(scrape(tls_gw)['switchboard_gateway_tls_failures_total{reason="plain_http"}'], 2)

    def test_broken_and_refused_handshakes_are_counted_logged_and_hurt_nobody(self):
        tls_gw, _ = self.start_pair()

        async def body_():
            alive = await ws_connect(tls_gw, "lobby")
            # 1. What starts like a ClientHello (record type 22, handshake
            #    type 1) and goes on with garbage.
            with socket.create_connection(("127.0.0.1", tls_gw.port), timeout=5) as s:
                s.sendall(b"\x16\x03\x01\x00\x40\x01\x00\x00\x20" + b"\xff" * 60)
                s.settimeout(5)
                try:
                    while s.recv(4096):  # a TLS alert at most, then the gateway closes
                        pass
                except ConnectionResetError:
                    pass
            # 2. A client that does not trust the certificate aborts the handshake.
            other_cert, _ = make_self_signed(self.workdir, "other")
            with self.assertRaises(ssl.SSLCertVerificationError):
                await websockets.connect(tls_gw.ws_url("lobby"), ssl=client_tls_context(other_cert), open_timeout=5)
            # Everybody else keeps chatting.
            await send_msg(alive, "still here")
            self.assertEqual((await recv_json(alive, 10))["message"], "still here")
            await alive.close()
        arun(body_(), 60)
        wait_until(lambda: scrape(tls_gw)['switchboard_gateway_tls_failures_total{reason="handshake"}'] >= 2, 10,
                   "two failed TLS handshakes counted")
        self.assertIn("TLS handshake failed", tls_gw.log_text())

    def test_a_connection_that_never_speaks_is_dropped(self):
        # Before any byte the gateway cannot tell TLS from plain HTTP; it
        # waits 10 s for the first one, then lets the socket go.
        tls_gw, _ = self.start_pair()
        with socket.create_connection(("127.0.0.1", tls_gw.port), timeout=20) as s:
            try:
                self.assertEqual(s.recv(1), b"")  # EOF from the gateway, well before our 20 s
            except ConnectionResetError:
                pass
        self.assertTrue(tls_gw.alive())

    def run_gateway_expecting_exit(self, args, code: int):
        port = free_port()
        r = subprocess.run([GATEWAY_BIN, "--listen", f"127.0.0.1:{port}", "--layerd",
                            f"tcp://127.0.0.1:{free_port()}"] + args, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def test_bad_certificate_options_exit_with_a_clear_message(self):
        other_cert, other_key = make_self_signed(self.workdir, "other")
        not_pem = self.workdir / "not.pem"
        not_pem.write_text("this is not a certificate\n")
        out = self.run_gateway_expecting_exit(["--tls-cert", str(self.cert)], 2)
        self.assertIn("--tls-cert and --tls-key go together", out)
        out = self.run_gateway_expecting_exit(["--tls-key", str(self.key)], 2)
        self.assertIn("--tls-cert and --tls-key go together", out)
        out = self.run_gateway_expecting_exit(["--tls-cert", str(self.workdir / "missing.crt"),
                                               "--tls-key", str(self.key)], 1)
        self.assertIn("cannot load --tls-cert", out)
        out = self.run_gateway_expecting_exit(["--tls-cert", str(not_pem), "--tls-key", str(self.key)], 1)
        self.assertIn("cannot load --tls-cert", out)
        out = self.run_gateway_expecting_exit(["--tls-cert", str(self.cert), "--tls-key", str(not_pem)], 1)
        self.assertIn("cannot load --tls-key", out)
        out = self.run_gateway_expecting_exit(["--tls-cert", str(self.cert), "--tls-key", str(other_key)], 1)
        self.assertIn("does not match the certificate", out)

    def test_sighup_loads_a_renewed_certificate_and_open_sockets_keep_chatting(self):
        tls_gw, _ = self.start_pair()
        self.assertEqual(peer_certificate(tls_gw.port), der(self.cert))
        old_der = der(self.cert)

        async def body_():
            a = await ws_connect(tls_gw, "lobby")
            # Renew in place (as certbot does) and reload.
            new_cert, new_key = make_self_signed(self.workdir, "renewed")
            shutil.copy(new_cert, self.cert)
            shutil.copy(new_key, self.key)
            tls_gw.signal_group(signal.SIGHUP)
            wait_until(lambda: "TLS certificate reloaded" in tls_gw.log_text(), 10, "the reload log line")
            self.assertEqual(peer_certificate(tls_gw.port), der(new_cert))
            self.assertNotEqual(der(new_cert), old_der)
            # A client that trusts only the new certificate gets in and meets a.
            tls_gw.ssl_context = client_tls_context(new_cert)
            b = await ws_connect(tls_gw, "lobby")
            await send_msg(a, "across the reload")
            for ws in (a, b):
                self.assertEqual((await recv_json(ws, 10))["message"], "across the reload")
            # A broken file on reload keeps the running certificate.
            self.cert.write_text("garbage\n")
            tls_gw.signal_group(signal.SIGHUP)
            wait_until(lambda: "TLS reload failed, keeping the running certificate" in tls_gw.log_text(), 10,
                       "the failed-reload log line")
            self.assertEqual(peer_certificate(tls_gw.port), der(new_cert))
            self.assertTrue(tls_gw.alive())
            await a.close()
            await b.close()
        arun(body_(), 60)

    def test_drain_closes_tls_clients_with_1001(self):
        tls_gw, _ = self.start_pair()

        async def body_():
            a = await ws_connect(tls_gw, "lobby")
            tls_gw.signal_group(signal.SIGTERM)
            with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                await recv_json(a, 10)
            self.assertEqual(cm.exception.rcvd.code, 1001)
        arun(body_(), 30)
        wait_until(lambda: not tls_gw.alive(), 15, "the gateway to exit after the drain")
        self.assertEqual(tls_gw.returncode(), 0)


if __name__ == "__main__":
    unittest.main()
