# test_event_bounds.py — one big event can neither freeze a gateway nor get past a door.
#
# An event of 60,000 map keys (under 1 MiB) once cost a gateway seconds of
# CPU on the thread that also carries its layerd heartbeats, so layerd
# expired it and dropped its members. Now converting an event is linear and
# every event is checked against the event bounds (common/limits.hpp: bytes,
# depth, items, key length) at the door it comes in by: switchboard-cli
# exits 2, layerd's HTTP API answers 413 or 400, a ZeroMQ peer gets ERROR
# bad_event, and a Django inbox message is dropped, counted and logged.
# Real redis-server, layerd, gateway, CLI, channels_redis and raw ZeroMQ.
import asyncio
import json
import subprocess
import time
import unittest

import msgpack
import zmq
from channels_redis.core import RedisChannelLayer

from harness import (BIN_DIR, ProcessTestCase, arun, await_until, free_port, http_request, recv_json,
                     scrape_metrics, ws_connect)

TOKEN = "bounds-token"
MAX_ITEMS = 65536   # common/limits.hpp, max_event_items
MAX_DEPTH = 32      # common/limits.hpp, max_event_depth
HELLO, WELCOME, GROUP_SEND, ERROR = 1, 2, 5, 9  # proto/messages.hpp


def wide_event(keys: int) -> dict:
    return {"type": "notify", "data": {f"key{i}": i for i in range(keys)}}


def deep_event(levels: int) -> dict:
    inner = 0
    for _ in range(levels):
        inner = [inner]
    return {"type": "notify", "data": inner}


class EventBounds(ProcessTestCase):
    def setUp(self):
        self.api_port = free_port()
        self.metrics_port = free_port()
        self.c = self.start_cluster(
            layerds=1, gateways=1,
            layerd_args=["--api-token", TOKEN, "--http-listen", f"127.0.0.1:{self.api_port}",
                         "--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--gateway-timeout-ms", "2000"],
            gateway_args=["--send-queue-bytes", str(64 << 20), "--layerd-timeout-ms", "2000"])
        self.gw = self.c.gateways[0]
        self.layerd = self.c.layerds[0]

    def api(self, event):
        body = json.dumps({"group": "chat_lobby", "event": event}).encode()
        status, _, payload = http_request(self.api_port, "POST", "/api/group_send", body=body, timeout=30,
                                          headers={"Authorization": f"Bearer {TOKEN}",
                                                   "Content-Type": "application/json"})
        return status, json.loads(payload) if payload.strip() else None

    def cli(self, event_json: str):
        return subprocess.run([str(BIN_DIR / "switchboard-cli"), "--layerd", self.layerd.endpoint, "--redis",
                               self.c.redis.url, "--timeout-ms", "5000", "group-send", "chat_lobby", "-"],
                              input=event_json, capture_output=True, text=True, timeout=60, start_new_session=True)

    def zmq_group_send(self, event) -> list:
        """A publishing client on layerd's port: HELLO, then GROUP_SEND; the reply's body."""
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.ROUTING_ID, b"cli.0123456789abcdef")
        s.connect(self.layerd.endpoint)
        try:
            s.send_multipart([bytes([HELLO]), msgpack.packb([1, 1, "cli.0123456789abcdef", 1])])
            self.assertTrue(s.poll(10000), "no WELCOME")
            kind, _ = s.recv_multipart()
            self.assertEqual(kind, bytes([WELCOME]))
            s.send_multipart([bytes([GROUP_SEND]), msgpack.packb(["chat_lobby", msgpack.packb(event)])])
            self.assertTrue(s.poll(10000), "no answer to the GROUP_SEND")
            kind, body = s.recv_multipart()
            self.assertEqual(kind, bytes([ERROR]))
            return msgpack.unpackb(body)
        finally:
            s.close()

    def test_an_event_over_the_bounds_is_refused_at_every_door(self):
        async def body():
            a = await ws_connect(self.gw, "lobby")
            await await_until(lambda: len(self.c.members("lobby")) == 1, 10, "a member")
            member = self.c.members("lobby")[0]
            wide = wide_event(MAX_ITEMS)  # with "type" and "data": over the bound
            deep = deep_event(MAX_DEPTH)  # inside the event map: one level too many

            # switchboard-cli: exit 2, the bound named
            r = await asyncio.to_thread(self.cli, json.dumps(wide))
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("event too large", r.stderr)
            self.assertIn("map entries and array items", r.stderr)
            r = await asyncio.to_thread(self.cli, json.dumps(deep))
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("nested deeper than 32", r.stderr)

            # the HTTP API: 413 for a size bound, 400 for the rest
            st, js = await asyncio.to_thread(self.api, wide)
            self.assertEqual(st, 413, js)
            self.assertIn("map entries and array items", js["error"])
            st, js = await asyncio.to_thread(self.api, deep)
            self.assertEqual(st, 400, js)
            st, js = await asyncio.to_thread(self.api, {"type": "notify", ("k" * 1025): 1})
            self.assertEqual(st, 413, js)
            self.assertIn("key", js["error"])

            # a peer on layerd's port: ERROR bad_event, counted
            before = scrape_metrics(self.metrics_port).get("switchboard_layerd_events_refused_total", 0)
            err = await asyncio.to_thread(self.zmq_group_send, wide)
            self.assertEqual(err[1], "bad_event")
            self.assertIn("map entries and array items", err[2])
            after = scrape_metrics(self.metrics_port)["switchboard_layerd_events_refused_total"]
            self.assertEqual(after, before + 1)

            # Django: channels_redis sends to the socket's channel; layerd drops it, counted and logged
            layer = RedisChannelLayer(hosts=[("127.0.0.1", self.c.redis.port)])
            dropped = scrape_metrics(self.metrics_port).get("switchboard_layerd_django_inbox_dropped_total", 0)
            await layer.send(member, wide)
            await await_until(lambda: scrape_metrics(self.metrics_port).get(
                "switchboard_layerd_django_inbox_dropped_total", 0) == dropped + 1, 15, "the inbox message dropped")
            self.assertIn("map entries and array items", self.layerd.log_text())
            await layer.send(member, {"type": "chat.message", "message": "small from django"})

            # nothing of the above reached the member: the next frame is the small one
            self.assertEqual(await recv_json(a, 15), {"message": "small from django"})
            await a.close()
        arun(body(), 180)

    def test_events_at_the_bounds_do_not_freeze_the_gateway(self):
        # The event: 60,000 keys, about 0.7 MB as msgpack. Before,
        # each cost the gateway seconds on the thread that sends its
        # heartbeats, and layerd (gateway timeout 2 s here) expired it.
        n_events = 6
        big = wide_event(60000)

        async def body():
            a = await ws_connect(self.gw, "lobby", max_size=1 << 24)
            b = await ws_connect(self.gw, "lobby", max_size=1 << 24)
            await await_until(lambda: len(self.c.members("lobby")) == 2, 10, "2 members")
            started = time.monotonic()
            for _ in range(n_events):
                st, js = await asyncio.to_thread(self.api, big)
                self.assertEqual(st, 200, js)
            st, _ = await asyncio.to_thread(self.api, {"type": "chat.message", "message": "after the big ones"})
            self.assertEqual(st, 200)
            for ws in (a, b):
                for i in range(n_events):
                    ev = await recv_json(ws, 30)
                    self.assertEqual(ev["type"], "notify")
                    self.assertEqual(len(ev["data"]), 60000)
                self.assertEqual(await recv_json(ws, 30), {"message": "after the big ones"})
            elapsed = time.monotonic() - started
            # The gateway stayed alive for layerd throughout, and layerd for it.
            self.assertNotIn("gateway expired", self.layerd.log_text())
            self.assertNotIn("layerd down", self.gw.log_text())
            self.assertEqual(len(self.c.members("lobby")), 2)
            print(f"\n{n_events} events of 60,000 keys to 2 members: {elapsed:.2f} s", flush=True)
            await a.close()
            await b.close()
        arun(body(), 240)


if __name__ == "__main__":
    unittest.main()
