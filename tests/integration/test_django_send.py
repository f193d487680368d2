# test_django_send.py — Switchboard clients send() to Django channels.
#
# A send to a channel that is no live gateway's socket is written by layerd
# into that channel's channels_redis inbox, as Django's
# channel_layer.send(channel, message) would (docs/django.md, Sending to
# Django channels). The Django side is Debian's real channels_redis
# (RedisChannelLayer.receive on a worker channel such as runworker reads,
# and on a new_channel() process-local channel); the senders are the three
# Switchboard clients: switchboard-cli, layerd's HTTP API and a raw ZeroMQ
# client speaking docs/protocol.md. Also: a full inbox answers channel_full
# (CLI exit 1, API 429, ERROR) and is counted, Redis down answers
# redis_unavailable, symmetric encryption, and two Redis hosts.
import asyncio
import binascii
import json
import subprocess
import unittest

import msgpack
import zmq
from channels_redis.core import RedisChannelLayer

from harness import BIN_DIR, ProcessTestCase, arun, free_port, http_request, scrape_metrics

CLI_BIN = BIN_DIR / "switchboard-cli"
TOKEN = "djsend-token"
CLIENT_ID = "cli.00112233445566aa"


def shard(name: str, n: int) -> int:
    """channels_redis' consistent hash (docs/django.md, Several Redis hosts)."""
    return 0 if n == 1 else int((binascii.crc32(name.encode()) & 0xFFF) / (4096 / n))


class Senders:
    """The three ways a Switchboard client sends to one channel; each returns
    (ok, detail): detail is stderr, the HTTP status, or the ERROR code."""

    def __init__(self, test, layerd, redis_url, api_port):
        self.test, self.layerd, self.redis_url, self.api_port = test, layerd, redis_url, api_port
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        test.addCleanup(self.ctx.term)
        test.addCleanup(self.sock.close, 0)
        self.sock.setsockopt(zmq.IDENTITY, CLIENT_ID.encode())
        self.sock.connect(layerd.endpoint)
        self.sock.send_multipart([bytes([1]), msgpack.packb([1, 1, CLIENT_ID, 1])])
        test.assertTrue(self.sock.poll(10000), "WELCOME")
        test.assertEqual(self.sock.recv_multipart()[0], bytes([2]))

    def cli(self, channel, event):
        r = subprocess.run([str(CLI_BIN), "--layerd", self.layerd.endpoint, "--redis", self.redis_url,
                            "--timeout-ms", "5000", "send", channel, json.dumps(event)],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                           start_new_session=True)
        return r.returncode, r.stderr

    def api(self, channel, event):
        status, _, body = http_request(self.api_port, "POST", "/api/send", timeout=15, body=json.dumps(
            {"channel": channel, "event": event}).encode(), headers={
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        return status, json.loads(body)

    def zmq(self, channel, event):
        """SEND then HEARTBEAT: the ERROR about the send, if any, comes first."""
        self.sock.send_multipart([bytes([6]), msgpack.packb([channel, msgpack.packb(event)], use_bin_type=True)])
        self.sock.send_multipart([bytes([7]), msgpack.packb([])])
        error = None
        while True:
            self.test.assertTrue(self.sock.poll(15000), "layerd answers the HEARTBEAT")
            kind, body = self.sock.recv_multipart()
            if kind == bytes([9]) and error is None:
                error = msgpack.unpackb(body)[1]
            if kind == bytes([7]):
                return error


class DjangoSend(ProcessTestCase):
    def start(self, layerd_args=(), redis_count=1, layer_kwargs=None):
        self.redises = [self.start_redis() for _ in range(redis_count)]
        self.api_port, self.metrics_port = free_port(), free_port()
        args = ["--api-token", TOKEN, "--http-listen", f"127.0.0.1:{self.api_port}",
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}"]
        for r in self.redises[1:]:
            args += ["--redis", r.url]
        self.layerd = self.start_layerd(self.redises[0].url, extra_args=[*args, *layerd_args])
        self.send = Senders(self, self.layerd, self.redises[0].url, self.api_port)
        self.layer_kwargs = layer_kwargs or {}

    def layer(self):
        return RedisChannelLayer(hosts=[("127.0.0.1", r.port) for r in self.redises], **self.layer_kwargs)

    def send_three_ways(self, channel, tag):
        """The same event sent by the CLI, the API and ZeroMQ: the three events."""
        events = [{"type": "thumbnail.make", "via": via, "tag": tag, "size": [64, 64], "name": "café.png"}
                  for via in ("cli", "api", "zmq")]
        rc, err = self.send.cli(channel, events[0])
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.send.api(channel, events[1]), (200, {"ok": True}))
        self.assertIsNone(self.send.zmq(channel, events[2]))
        return events

    async def receive(self, layer, channel, n):
        return [await asyncio.wait_for(layer.receive(channel), 15) for _ in range(n)]

    def test_a_worker_channel_and_a_process_local_channel_get_each_senders_message(self):
        self.start()

        async def body():
            layer = self.layer()
            local = await layer.new_channel()
            for channel in ("worker.thumbnails", local):
                sent = self.send_three_ways(channel, channel)
                got = await self.receive(layer, channel, 3)
                self.assertEqual(got, sent, f"what channels_redis' receive({channel!r}) reads")
            self.assertEqual(self.redises[0].cmd("EXISTS", "asgiworker.thumbnails"), 0)
        arun(body(), 90)

    def test_a_full_inbox_answers_channel_full_to_every_sender_and_is_counted(self):
        self.start(layerd_args=["--channel-capacity", "worker.*=2", "--capacity", "100"])

        async def body():
            layer = self.layer()
            event = {"type": "thumbnail.make", "n": 1}
            self.assertEqual(self.send.cli("worker.thumbnails", event)[0], 0)
            self.assertEqual(self.send.api("worker.thumbnails", event)[0], 200)
            before = scrape_metrics(self.metrics_port)["switchboard_layerd_django_full_total"]
            rc, err = self.send.cli("worker.thumbnails", event)
            self.assertEqual(rc, 1)
            self.assertIn("channel_full", err)
            status, js = self.send.api("worker.thumbnails", event)
            self.assertEqual(status, 429)
            self.assertIn("at capacity", js["error"])
            self.assertEqual(self.send.zmq("worker.thumbnails", event), "channel_full")
            # pipelined: each SEND's ERROR comes before the HEARTBEAT after it
            sock, hb = self.send.sock, [bytes([7]), msgpack.packb([])]
            for channel in ("worker.thumbnails", "other.channel", "bad channel!"):
                sock.send_multipart([bytes([6]), msgpack.packb([channel, msgpack.packb(event)], use_bin_type=True)])
                sock.send_multipart(hb)
            got = []
            while len([g for g in got if g == "heartbeat"]) < 3:
                self.assertTrue(sock.poll(15000))
                kind, b = sock.recv_multipart()
                got.append("heartbeat" if kind == bytes([7]) else msgpack.unpackb(b)[1])
            # errors of different sends may come in any order (a refusal at
            # once overtakes a write waiting for Redis); never after the
            # HEARTBEAT that followed their SEND
            beats = [i for i, g in enumerate(got) if g == "heartbeat"]
            self.assertEqual(sorted(g for g in got if g != "heartbeat"), ["bad_name", "channel_full"], got)
            self.assertLess(got.index("channel_full"), beats[0], got)
            self.assertLess(got.index("bad_name"), beats[2], got)
            self.assertEqual(self.redises[0].cmd("ZCARD", "asgiworker.thumbnails"), 2)
            after = scrape_metrics(self.metrics_port)["switchboard_layerd_django_full_total"]
            self.assertEqual(after - before, 4)
            self.assertIn("django send refused channel=worker.thumbnails", self.layerd.log_text())
            # the worker reads one: there is room again
            await self.receive(layer, "worker.thumbnails", 1)
            self.assertIsNone(self.send.zmq("worker.thumbnails", event))
            # other channels keep the default capacity
            self.assertEqual(self.send.api("other.channel", event)[0], 200)
            self.assertEqual(self.redises[0].cmd("ZCARD", "asgiother.channel"), 2)
        arun(body(), 90)

    def test_redis_down_answers_redis_unavailable_and_a_gone_gateway_no_route(self):
        self.start()
        event = {"type": "thumbnail.make"}
        rc, err = self.send.cli("specific.gwa.0123456789abcdef!3", event)
        self.assertEqual(rc, 1)
        self.assertIn("no_route", err)
        self.assertEqual(self.send.zmq("bad channel!", event), "bad_name")
        self.assertEqual(self.send.zmq(f"specific.{CLIENT_ID}!", event), "no_route")  # a client has no channels
        self.assertEqual(self.redises[0].cmd("DBSIZE"), 0, "nothing written for a refused send")
        self.redises[0].stop()
        rc, err = self.send.cli("worker.thumbnails", event)
        self.assertEqual(rc, 1)
        self.assertIn("redis_unavailable", err)
        status, js = self.send.api("worker.thumbnails", event)
        self.assertEqual(status, 503)
        self.assertEqual(self.send.zmq("worker.thumbnails", event), "redis_unavailable")
        self.assertTrue(self.layerd.alive())

    def test_with_symmetric_encryption_the_worker_reads_it(self):
        self.start(layerd_args=["--symmetric-encryption-key", "new secret", "--symmetric-encryption-key", "old"],
                   layer_kwargs={"symmetric_encryption_keys": ["new secret", "old"]})

        async def body():
            layer = self.layer()
            local = await layer.new_channel()
            for channel in ("worker.thumbnails", local):
                sent = self.send_three_ways(channel, "encrypted")
                self.assertEqual(await self.receive(layer, channel, 3), sent)
        arun(body(), 90)

    def test_with_two_redis_hosts_each_message_lands_where_channels_redis_reads(self):
        self.start(redis_count=2)

        async def body():
            layer = self.layer()
            # A process-local channel whose full name hashes to the other
            # host than its process' inbox (where channels_redis reads).
            for _ in range(200):
                local = await layer.new_channel()
                if shard(local, 2) != shard(local[: local.index("!") + 1], 2):
                    break
            else:
                self.fail("no channel found")
            inbox = "asgi" + local[: local.index("!") + 1]
            reader = self.redises[shard(local[: local.index("!") + 1], 2)]
            self.assertIsNone(self.send.zmq(local, {"type": "x.y", "n": 0}))
            self.assertEqual(reader.cmd("ZCARD", inbox), 1)
            self.assertEqual(await self.receive(layer, local, 1), [{"type": "x.y", "n": 0}])
            # A plain channel: the hosts in turn, as channels_redis' send(),
            # whose receive() cycles them too.
            for i in range(2):
                self.assertEqual(self.send.cli("worker.thumbnails", {"type": "x.y", "n": i})[0], 0)
            self.assertEqual([r.cmd("ZCARD", "asgiworker.thumbnails") for r in self.redises], [1, 1])
            got = await self.receive(layer, "worker.thumbnails", 2)
            self.assertEqual(sorted(m["n"] for m in got), [0, 1])
        arun(body(), 90)

    def gateway_socket(self, gateway_id):
        """A raw ZeroMQ peer saying HELLO as a gateway speaking 1.3."""
        ctx = zmq.Context()
        self.addCleanup(ctx.term)
        sock = ctx.socket(zmq.DEALER)
        self.addCleanup(sock.close, 0)
        sock.setsockopt(zmq.IDENTITY, gateway_id.encode())
        sock.connect(self.layerd.endpoint)
        sock.send_multipart([bytes([1]), msgpack.packb([1, 3, gateway_id, 0])])
        self.assertTrue(sock.poll(10000), "WELCOME")
        kind, body = sock.recv_multipart()
        self.assertEqual(kind, bytes([2]))
        self.assertGreaterEqual(msgpack.unpackb(body)[:2], [1, 3], "layerd says 1.3 or later")
        return sock

    def test_a_send_with_a_request_is_answered_ack_or_error_with_that_request(self):
        self.start(layerd_args=["--channel-capacity", "worker.*=1"])
        gw = "gwreq.0123456789abcdef"
        sock = self.gateway_socket(gw)
        event = msgpack.packb({"type": "websocket.receive", "text": "hi"})

        def send(channel, request):
            sock.send_multipart([bytes([6]), msgpack.packb([channel, event, request], use_bin_type=True)])

        def answers(n):
            got = {}
            while len(got) < n:
                self.assertTrue(sock.poll(15000), f"answers so far: {got}")
                kind, body = sock.recv_multipart()
                if kind == bytes([10]):
                    got[msgpack.unpackb(body)[0]] = "ack"
                elif kind == bytes([9]):
                    request, code, _ = msgpack.unpackb(body)
                    self.assertNotEqual(request, 0, code)
                    got[request] = code
                elif kind == bytes([8]):
                    got.setdefault("deliver", []).append(msgpack.unpackb(body, raw=False)[0])
                    n += 1
            return got

        send("worker.a", 11)           # written
        send("worker.a", 12)           # the inbox holds one: channel_full
        send("bad channel!", 13)       # bad_name
        send("specific.gwx.00112233445566ff!1", 14)  # a gone Switchboard gateway: no_route
        send(f"specific.{gw}!c1", 15)  # a live gateway's socket: DELIVER, then ACK
        sock.send_multipart([bytes([6]), msgpack.packb(["worker.b", b"\x01", 16], use_bin_type=True)])  # bad_event
        send("worker.plain", 0)        # no request: no ACK (as before 1.3)
        got = answers(6)
        self.assertEqual(got, {11: "ack", 12: "channel_full", 13: "bad_name", 14: "no_route", 15: "ack",
                               16: "bad_event", "deliver": [["c1"]]})
        self.assertFalse(sock.poll(500), "nothing for the SEND without a request")
        self.assertEqual(self.redises[0].cmd("ZCARD", "asgiworker.plain"), 1)
        self.redises[0].stop()
        send("worker.c", 17)
        self.assertEqual(answers(1), {17: "redis_unavailable"})

    def test_one_layerds_writes_into_one_inbox_pop_in_the_order_sent(self):
        # Hundreds of SENDs read in one batch are written in the same
        # microsecond; equal scores would pop in random-tag order.
        self.start(layerd_args=["--capacity", "1000"])
        sock = self.gateway_socket("gworder.0123456789abcdef")
        n = 600
        for i in range(n):
            sock.send_multipart([bytes([6]), msgpack.packb(["worker.order", msgpack.packb({"type": "t", "n": i}),
                                                            i + 1], use_bin_type=True)])
        answers = []
        while len(answers) < n:
            self.assertTrue(sock.poll(15000))
            kind, body = sock.recv_multipart()
            answers.append(msgpack.unpackb(body)[0] if kind == bytes([10]) else msgpack.unpackb(body))
        self.assertEqual(sorted(answers), list(range(1, n + 1)), "every SEND acknowledged")
        scores = [float(s) for s in self.redises[0].cmd("ZRANGE", "asgiworker.order", "0", "-1", "WITHSCORES")[1::2]]
        self.assertEqual(len(set(scores)), n, "every write has its own score")

        async def body():
            layer = self.layer()
            got = await self.receive(layer, "worker.order", n)
            self.assertEqual([m["n"] for m in got], list(range(n)))
        arun(body(), 90)


if __name__ == "__main__":
    unittest.main()
