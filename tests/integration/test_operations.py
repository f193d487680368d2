# test_operations.py — what an operator relies on: /metrics and a graceful drain.
#
# /metrics is scraped after known traffic and must count exactly that
# traffic. SIGTERM on a gateway must: answer /healthz with 503 while it
# drains, close every client with 1001 so it reconnects elsewhere, never
# lose a message the draining gateway already acknowledged to its sender
# (the sender's own echo), and exit by itself within the drain timeout.
import asyncio
import json
import signal
import unittest

import websockets

from harness import (seed_view, ProcessTestCase, RawWebSocket, arun, await_until, http_request, recv_json, scrape_metrics,
                     send_msg, wait_until, ws_connect)


def scrape(gw):
    return scrape_metrics(gw.port)


class Metrics(ProcessTestCase):
    def test_metrics_count_known_traffic(self):
        c = self.start_cluster(layerds=1, gateways=1)
        gw = c.gateways[0]

        async def body():
            before = scrape(gw)
            a = await ws_connect(gw, "lobby")
            b = await ws_connect(gw, "lobby")
            for i in range(3):
                await send_msg(a, f"m{i}")
            for ws in (a, b):
                for i in range(3):
                    self.assertEqual(seed_view(await recv_json(ws, 10)), {"message": f"m{i}"})
            await a.send("not json")
            self.assertEqual((await recv_json(a, 10))["code"], "bad_json")
            await b.send(b"\x00binary")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await recv_json(b, 10)
            after = scrape(gw)
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            self.assertEqual(delta["switchboard_gateway_handshakes_total"], 2)
            self.assertEqual(delta["switchboard_gateway_frames_in_total"], 4)  # 3 messages + the bad one
            self.assertEqual(delta["switchboard_gateway_group_sends_total"], 3)
            self.assertEqual(delta["switchboard_gateway_delivers_in_total"], 3)
            self.assertEqual(delta["switchboard_gateway_error_frames_total"], 1)
            self.assertEqual(delta['switchboard_gateway_closes_total{reason="binary"}'], 1)
            # 2 × 101 + 6 chat frames + 1 error frame + 1 close, at least
            self.assertGreaterEqual(delta["switchboard_gateway_frames_out_total"], 10)
            self.assertGreater(delta["switchboard_gateway_bytes_in_total"], 0)
            # Every frame left in some write; a pass's writes are timed.
            writes = delta["switchboard_gateway_socket_writes_total"]
            self.assertGreaterEqual(writes, 1)
            self.assertLessEqual(writes, delta["switchboard_gateway_frames_out_total"])
            flushes = delta["switchboard_gateway_flush_seconds_count"]
            self.assertGreaterEqual(flushes, 1)
            self.assertEqual(delta['switchboard_gateway_flush_seconds_bucket{le="+Inf"}'], flushes)
            buckets = [v for k, v in after.items() if k.startswith("switchboard_gateway_flush_seconds_bucket")]
            self.assertEqual(buckets, sorted(buckets), "histogram buckets are cumulative")
            self.assertEqual(len(buckets), 10)
            self.assertGreater(delta["switchboard_gateway_flush_seconds_sum"], 0)
            self.assertEqual(after["switchboard_gateway_layerd_links_up"], 1)
            await await_until(lambda: scrape(gw)["switchboard_gateway_connections"] == 1, 10, "1 connection left")
            await a.close()
        arun(body(), 60)

    def test_refused_handshakes_are_counted_by_reason(self):
        c = self.start_cluster(layerds=1, gateways=1)
        gw = c.gateways[0]
        before = scrape(gw)
        status, _, _ = http_request(gw.port, "GET", "/ws/chat/a-b/", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        self.assertEqual(status, 404)
        status, _, _ = http_request(gw.port, "GET", "/ws/chat/lobby/", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"})
        self.assertEqual(status, 400)
        after = scrape(gw)
        self.assertEqual(after['switchboard_gateway_handshake_refusals_total{reason="not_found"}']
                         - before['switchboard_gateway_handshake_refusals_total{reason="not_found"}'], 1)
        self.assertEqual(after['switchboard_gateway_handshake_refusals_total{reason="bad_handshake"}']
                         - before['switchboard_gateway_handshake_refusals_total{reason="bad_handshake"}'], 1)


class LayerdMetrics(ProcessTestCase):
    def test_layerd_metrics_count_known_traffic(self):
        from harness import free_port
        mport = free_port()
        c = self.start_cluster(layerds=1, gateways=2, layerd_args=["--metrics-listen", f"127.0.0.1:{mport}"])

        def layerd_metrics():
            return scrape_metrics(mport)

        async def body():
            before = layerd_metrics()
            a = await ws_connect(c.gateways[0], "lobby")
            b = await ws_connect(c.gateways[1], "lobby")
            for i in range(5):
                await send_msg(a, f"m{i}")
            for ws in (a, b):
                for i in range(5):
                    await recv_json(ws, 10)
            after = layerd_metrics()
            self.assertEqual(after["switchboard_layerd_gateways"], 2)
            self.assertEqual(after["switchboard_layerd_members"], 2)
            self.assertEqual(after["switchboard_layerd_group_sends_total"] - before["switchboard_layerd_group_sends_total"], 5)
            # one GROUP_DELIVER per gateway per group_send
            self.assertEqual(after["switchboard_layerd_delivers_out_total"] - before["switchboard_layerd_delivers_out_total"], 10)
            self.assertEqual(after["switchboard_layerd_redis_up"], 1)
            # no Django consumer is late or full: neither degraded state counts
            self.assertEqual(after["switchboard_layerd_django_backlog_dropped_total"], 0)
            self.assertEqual(after["switchboard_layerd_django_full_total"], 0)
            self.assertEqual(after["switchboard_layerd_group_send_seconds_count"]
                             - before["switchboard_layerd_group_send_seconds_count"], 5)
            self.assertEqual(after['switchboard_layerd_group_send_seconds_bucket{le="+Inf"}'],
                             after["switchboard_layerd_group_send_seconds_count"])
            status, _, _ = http_request(mport, "GET", "/other", timeout=5)
            self.assertEqual(status, 404)
            for ws in (a, b):
                await ws.close()
        arun(body(), 60)


class Origins(ProcessTestCase):
    async def status(self, gw, origin):
        url = f"ws://127.0.0.1:{gw.port}/ws/chat/lobby/"
        try:
            ws = await websockets.connect(url, origin=origin, open_timeout=10)
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        await ws.close()
        return 101

    def test_by_default_only_the_gateways_own_host_may_open_sockets(self):
        c = self.start_cluster(layerds=1, gateways=1)
        gw = c.gateways[0]

        async def body():
            before = scrape(gw)['switchboard_gateway_handshake_refusals_total{reason="origin"}']
            self.assertEqual(await self.status(gw, f"http://127.0.0.1:{gw.port}"), 101)
            self.assertEqual(await self.status(gw, None), 101, "no Origin: not a browser")
            self.assertEqual(await self.status(gw, "http://evil.example"), 403)
            self.assertEqual(await self.status(gw, f"http://127.0.0.1:{gw.port + 1}"), 403)
            after = scrape(gw)['switchboard_gateway_handshake_refusals_total{reason="origin"}']
            self.assertEqual(after - before, 2)
        arun(body(), 60)

    def test_allowed_origin_patterns(self):
        c = self.start_cluster(layerds=1, gateways=1, gateway_args=["--allowed-origin", "*.example.com",
                                                                    "--allowed-origin", "https://app.example.org"])
        gw = c.gateways[0]

        async def body():
            self.assertEqual(await self.status(gw, "https://chat.example.com"), 101)
            self.assertEqual(await self.status(gw, "https://example.com"), 403)
            self.assertEqual(await self.status(gw, "https://app.example.org"), 101)
            self.assertEqual(await self.status(gw, "http://app.example.org"), 403)
            self.assertEqual(await self.status(gw, f"http://127.0.0.1:{gw.port}"), 403,
                             "with patterns, the own host is not implied")
        arun(body(), 60)


class TrustedProxy(ProcessTestCase):
    async def connect_with_xff(self, gw):
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/chat/lobby/", open_timeout=10,
                                      extra_headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7",
                                                     "X-Forwarded-Proto": "https"})
        await ws.close()

    def test_forwarded_headers_count_only_from_a_trusted_proxy(self):
        # (the harness runs gateways at --log-level debug)
        c = self.start_cluster(layerds=1, gateways=0)
        # one gateway trusts loopback (where the test connects from); the other trusts someone else
        trusting = self.start_gateway(c.endpoints, extra_args=["--trusted-proxy", "127.0.0.1"], id="trusting")
        other = self.start_gateway(c.endpoints, extra_args=["--trusted-proxy", "10.9.9.9"], id="untrusting")
        c.gateways = [trusting, other]
        self.wait_links_up(c)
        arun(self.connect_with_xff(trusting), 30)
        arun(self.connect_with_xff(other), 30)
        wait_until(lambda: "handshake client=" in trusting.log_text(), 10, "trusting gateway logs the client")
        wait_until(lambda: "handshake client=" in other.log_text(), 10, "other gateway logs the client")
        self.assertIn("handshake client=203.0.113.7 scheme=https", trusting.log_text())
        self.assertIn("handshake client=127.0.0.1 scheme=http", other.log_text())
        self.assertNotIn("203.0.113.7", other.log_text())

    def test_a_trusted_proxy_must_be_an_ip_address(self):
        import subprocess
        from harness import GATEWAY_BIN
        r = subprocess.run([str(GATEWAY_BIN), "--trusted-proxy", "nginx.local"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--trusted-proxy", r.stderr)


class Drain(ProcessTestCase):
    def test_sigterm_drains_without_losing_acknowledged_messages(self):
        c = self.start_cluster(layerds=1, gateways=2)
        gwa, gwb = c.gateways

        async def body():
            sender = await ws_connect(gwa, "lobby")
            receiver = await ws_connect(gwb, "lobby")
            await await_until(lambda: len(c.members("lobby")) == 2, 10, "2 members")
            echoed, received = [], []

            async def send_all():
                for i in range(400):
                    try:
                        await send_msg(sender, f"m{i:04d}")
                    except websockets.exceptions.ConnectionClosed:
                        return
                    await asyncio.sleep(0.002)

            async def collect_echoes():
                try:
                    while True:
                        echoed.append(json.loads(await sender.recv())["message"])
                except websockets.exceptions.ConnectionClosed as e:
                    return e.rcvd.code if e.rcvd else None

            sending = asyncio.ensure_future(send_all())
            echoes = asyncio.ensure_future(collect_echoes())
            await await_until(lambda: len(echoed) >= 50, 10, "50 echoes before the drain")
            gwa.signal_group(signal.SIGTERM)
            code = await asyncio.wait_for(echoes, 15)
            self.assertEqual(code, 1001, "clients of a draining gateway get 1001 going away")
            await asyncio.gather(sending, return_exceptions=True)
            # every message the draining gateway acknowledged reaches the other gateway's member
            want = set(echoed)
            while not want.issubset(received):
                received.append((await recv_json(receiver, 10))["message"])
            self.assertEqual(received[: len(echoed)], echoed, "in order, none lost")
            # the gateway leaves by itself, and its members leave Redis
            await asyncio.to_thread(wait_until, lambda: not gwa.alive(), 15, "gateway A exits after draining")
            self.assertEqual(gwa.returncode(), 0)
            await await_until(lambda: len(c.members("lobby")) == 1, 10, "only B's member left")
            again = await ws_connect(gwb, "lobby")
            await send_msg(again, "after the drain")
            # (messages the sender sent after its last echo may still arrive first)
            for _ in range(1000):
                if seed_view(await recv_json(receiver, 10)) == {"message": "after the drain"}:
                    break
            else:
                self.fail("'after the drain' never arrived")
            for ws in (receiver, again):
                await ws.close()
        arun(body(), 90)

    def test_healthz_says_503_while_draining(self):
        c = self.start_cluster(layerds=1, gateways=1)
        gw = c.gateways[0]
        # a client that never answers the close keeps the drain going for a while
        stubborn = RawWebSocket(gw.port, "/ws/chat/lobby/")
        self.addCleanup(stubborn.close)
        self.assertEqual(stubborn.status, 101)
        gw.signal_group(signal.SIGTERM)

        def draining():
            try:
                status, _, body = http_request(gw.port, "GET", "/healthz", timeout=2)
            except OSError:
                return False
            return status == 503 and json.loads(body)["status"] == "draining"
        wait_until(draining, 5, "/healthz 503 draining")
        wait_until(lambda: not gw.alive(), 20, "gateway exits within the drain timeout")
        self.assertEqual(gw.returncode(), 0)


if __name__ == "__main__":
    unittest.main()
