# test_notifications.py — the seed's notification consumer at /ws/notification/<center>/.
#
# A notify event sent to group notification_<center> reaches every
# connected client as {"type": "notify", "data": ...}; events sent while
# nobody listens are kept in Redis per center (bounded in count and age)
# and a client that connects later receives them first, even after every
# Switchboard process was restarted. The publisher here is a raw ZeroMQ
# peer speaking layerd's protocol (what switchboard-cli and backends use),
# or Django's real channels_redis, whose group_send writes one copy per
# gateway inbox: such a notify is kept exactly once, also when several
# layerds pop the copies.
import asyncio
import os
import unittest
import urllib.parse

import msgpack
import websockets
import zmq
from channels_redis.core import RedisChannelLayer

from harness import ProcessTestCase, arun, await_until, first_message, recv_json

HELLO, WELCOME, GROUP_SEND = 1, 2, 5


class Publisher:
    """A peer that HELLOs layerd and sends GROUP_SENDs."""

    def __init__(self, endpoint):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.id = f"testpub.{os.urandom(8).hex()}"
        self.sock.setsockopt(zmq.IDENTITY, self.id.encode())
        self.sock.setsockopt(zmq.LINGER, 2000)
        self.sock.connect(endpoint)
        for _ in range(50):  # bounded: 50 × 200 ms
            self.sock.send_multipart([bytes([HELLO]), msgpack.packb([1, 0, self.id])])
            if self.sock.poll(200) and self.sock.recv_multipart()[0] == bytes([WELCOME]):
                return
        raise RuntimeError("layerd did not WELCOME the publisher")

    def notify(self, center, data):
        event = msgpack.packb({"type": "notify", "data": data})
        self.sock.send_multipart([bytes([GROUP_SEND]),
                                  msgpack.packb([f"notification_{center}", event], use_bin_type=True)])

    def close(self):
        self.sock.close()
        self.ctx.term()


def note_url(gw, center):
    return f"ws://127.0.0.1:{gw.port}/ws/notification/{urllib.parse.quote(center, safe='')}/"


class Notifications(ProcessTestCase):
    def cluster(self, layerd_args=(), layerds=1):
        self.c = self.start_cluster(layerds=layerds, gateways=2, layerd_args=layerd_args)
        self.pub = Publisher(self.c.layerds[0].endpoint)
        self.addCleanup(self.pub.close)

    def kept(self, center):
        """The data of the notifications Redis keeps for center, oldest
        first (a member is a 12-byte tag, then the event's msgpack)."""
        members = self.c.redis.cmd("ZRANGE", f"asgi:pending:notification_{center}", 0, -1)
        return [msgpack.unpackb(m[12:])["data"] for m in members]

    def test_a_notify_event_reaches_every_connected_client(self):
        self.cluster()

        async def body():
            a = await websockets.connect(note_url(self.c.gateways[0], "center1"))
            b = await websockets.connect(note_url(self.c.gateways[1], "center1"))
            other = await websockets.connect(note_url(self.c.gateways[0], "center2"))
            self.pub.notify("center1", {"text": "hello", "n": 1})
            for ws in (a, b):
                self.assertEqual(await recv_json(ws, 10), {"type": "notify", "data": {"text": "hello", "n": 1}})
            with self.assertRaises(asyncio.TimeoutError):
                await recv_json(other, 1)
            for ws in (a, b, other):
                await ws.close()
        arun(body(), 60)

    def test_pending_notifications_come_first_and_are_bounded(self):
        self.cluster(layerd_args=["--pending-max", "3"])

        async def body():
            for n in range(5):
                self.pub.notify("desk", {"n": n})
            # No client is connected to tell us; Redis shows what layerd kept.
            await await_until(lambda: sorted(d["n"] for d in self.kept("desk")) == [2, 3, 4], 10,
                              "the newest 3 of 5 notifications kept")
            ws = await websockets.connect(note_url(self.c.gateways[0], "desk"))
            got = [await recv_json(ws, 10) for _ in range(3)]
            self.assertEqual([g["data"]["n"] for g in got], [2, 3, 4])
            with self.assertRaises(asyncio.TimeoutError):
                await recv_json(ws, 1)
            # live ones follow
            self.pub.notify("desk", {"n": 5})
            self.assertEqual(await recv_json(ws, 10), {"type": "notify", "data": {"n": 5}})
            await ws.close()
        arun(body(), 60)

    def test_pending_notifications_survive_a_restart_of_every_switchboard_process(self):
        self.cluster()

        async def body():
            self.pub.notify("ops", {"alert": "disk full"})
            await await_until(lambda: self.kept("ops") == [{"alert": "disk full"}], 10, "the notification kept")
            self.pub.close()
            for gw in self.c.gateways:
                gw.stop()
            self.c.layerds[0].stop()
            layerd = self.start_layerd(self.c.redis.url, id="layerd-again")
            gw = self.start_gateway([layerd.endpoint], id="gw-again")
            ws = await websockets.connect(note_url(gw, "ops"))
            self.assertEqual(await recv_json(ws, 10), {"type": "notify", "data": {"alert": "disk full"}})
            await ws.close()
        arun(body(), 60)

    def django_notify_is_kept_once(self, layerds):
        self.cluster(layerds=layerds)
        r = self.c.redis
        layer = RedisChannelLayer(hosts=[("127.0.0.1", r.port)])

        async def silent(ws, seconds=1):
            with self.assertRaises(asyncio.TimeoutError):
                await recv_json(ws, seconds)

        async def group_send(note):
            """Django's group_send; returns how many EVALs Redis will have run
            once layerd has tried to keep both copies: channels_redis' own
            group_send script, then layerd's store script once per copy
            (gateway inbox), whichever layerd pops it."""
            evals = r.calls("EVAL")
            await layer.group_send("notification_dj", note)
            return evals + 1 + 2

        async def settled(n, evals):
            """Every copy's store has run, and n notifications are kept."""
            await await_until(lambda: r.calls("EVAL") >= evals, 10, "layerd's store of every copy")
            self.assertEqual(r.cmd("ZCARD", "asgi:pending:notification_dj"), n)

        async def body():
            a = await websockets.connect(note_url(self.c.gateways[0], "dj"))
            b = await websockets.connect(note_url(self.c.gateways[1], "dj"))
            await await_until(lambda: r.cmd("ZCARD", "asgi:group:notification_dj") == 2, 10, "2 members")
            members = [m.decode() for m in r.cmd("ZRANGE", "asgi:group:notification_dj", 0, -1)]
            self.assertEqual(len({m[: m.index("!")] for m in members}), 2, "the two sockets are on two gateways")
            note = {"type": "notify", "data": {"from": "django"}}
            evals = await group_send(note)
            for ws in (a, b):
                self.assertEqual(await recv_json(ws, 10), note)
            await settled(1, evals)
            later = await websockets.connect(note_url(self.c.gateways[0], "dj"))
            self.assertEqual(await recv_json(later, 10), note)
            await silent(later)
            # the same notification sent again is a new one, kept too
            evals = await group_send(note)
            for ws in (a, b, later):
                self.assertEqual(await recv_json(ws, 10), note)
            await settled(2, evals)
            # a direct send() to one socket is not a group notification: not kept
            only = {"type": "notify", "data": {"only": "you"}}
            await layer.send([m.decode() for m in r.cmd("ZRANGE", "asgi:group:notification_dj", 0, -1)][0], only)
            # layerd decides whether to keep a popped message before it
            # delivers it, so once it arrives the decision has been made.
            self.assertEqual(await first_message((a, b, later), 10), only)
            self.assertEqual(r.cmd("ZCARD", "asgi:pending:notification_dj"), 2)
            last = await websockets.connect(note_url(self.c.gateways[1], "dj"))
            self.assertEqual([await recv_json(last, 10) for _ in range(2)], [note, note])
            await silent(last)
            for ws in (a, b, later, last):
                await ws.close()
        arun(body(), 60)

    def test_a_django_notify_to_clients_on_two_gateways_is_kept_once_as_pending(self):
        self.django_notify_is_kept_once(layerds=1)

    def test_a_django_notify_is_kept_once_when_two_layerds_pop_the_copies(self):
        self.django_notify_is_kept_once(layerds=2)

    def test_a_notification_socket_refuses_messages_with_an_error_frame(self):
        self.cluster()

        async def body():
            ws = await websockets.connect(note_url(self.c.gateways[0], "center1"))
            await ws.send('{"message": "hi"}')
            got = await recv_json(ws, 10)
            self.assertEqual(got["type"], "error")
            self.assertEqual(got["code"], "not_accepted")
            self.pub.notify("center1", {"still": "works"})
            self.assertEqual(await recv_json(ws, 10), {"type": "notify", "data": {"still": "works"}})
            await ws.close()
        arun(body(), 60)

    def test_bad_center_names_are_refused_at_the_handshake(self):
        self.cluster()

        async def body():
            for bad in ("a-b", "a.b", "x" * 101):
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                    await websockets.connect(note_url(self.c.gateways[0], bad))
                self.assertEqual(cm.exception.status_code, 404)
        arun(body(), 60)


if __name__ == "__main__":
    unittest.main()
