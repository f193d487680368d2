# test_worker_wire.py — the wire between a gateway and Django workers
# (docs/protocol.md, Part 3), with the test itself as the worker.
#
# The worker is Debian's real channels_redis (RedisChannelLayer: receive()
# on the route's NAME and on its own new_channel(), send() to the socket's
# channel S), exactly what switchboard_django does under runworker; the
# gateways, layerds and redis-server are real, on loopback. Covered: the
# held handshake (accept → 101 with the scope, a close before the accept →
# 403, no worker → 503 after --connect-timeout-ms), the receive/send round
# trip (text and binary), a worker's close code, groups both ways (the
# fast path renders chat messages without a message to the worker; other
# events go to it as switchboard.event), seq reordering, a silent worker
# (1012), bad messages counted, and two layerds keeping one worker's order;
# a batching worker's sockets get the group events their RENDER does not
# cover from the group's layerd, once, also after a failover's SYNC, and
# only a layerd of 1.5 hears their worker (a fake layerd on a ROUTER);
# with a frozen layerd (SIGSTOP): a SEND never answered fails after
# --send-timeout-ms (1013, 503), and what waits for one worker process is
# bounded (10,000 messages, 16 MiB: past it 1013).
import asyncio
import json
import re
import queue
import signal
import threading
import unittest

import msgpack
import websockets
import zmq
from channels_redis.core import RedisChannelLayer

from harness import (seed_view, Cluster, ProcessTestCase, arun, await_until, free_port, handshake_status, scrape_metrics,
                     wait_until)

ROUTES = ["--route", "/ws/app/<room>/<part>/ django:chat", "--route", "/ws/chat/<room_name>/ chat"]


class Worker:
    """What switchboard_django does for one worker process, by hand."""

    def __init__(self, test, redis_port, name="chat"):
        self.test, self.name = test, name
        self.layer = RedisChannelLayer(hosts=[("127.0.0.1", redis_port)])
        self.seq = {}
        self.W = None

    async def start(self):
        self.W = await self.layer.new_channel()
        return self

    async def connect(self, timeout=15):
        msg = await asyncio.wait_for(self.layer.receive(self.name), timeout)
        self.test.assertEqual(msg["type"], "switchboard.connect", msg)
        return msg

    async def to(self, socket, type, seq=None, **fields):
        if seq is None:
            seq = self.seq.get(socket, 0) + 1
        self.seq[socket] = max(seq, self.seq.get(socket, 0))
        await self.layer.send(socket, {"type": type, "worker": self.W, "seq": seq, **fields})

    async def accept(self, socket, render=None, subprotocol=None):
        await self.to(socket, "websocket.accept", subprotocol=subprotocol,
                      switchboard={"render": render} if render is not None else {})

    async def recv(self, timeout=15):
        return await asyncio.wait_for(self.layer.receive(self.W), timeout)

    async def recv_type(self, type, timeout=15):
        """The next message of `type` for W (alive messages skipped)."""
        while True:
            m = await self.recv(timeout)
            if m["type"] == type:
                return m
            self.test.assertEqual(m["type"], "switchboard.alive", m)

    async def heartbeat(self, gateway_id):
        await self.layer.send(f"specific.{gateway_id}!ctl", {"type": "switchboard.worker_alive", "worker": self.W})

    def keep_alive(self, gateway_id):
        """switchboard.worker_alive every 0.5 s, as switchboard_django does every second."""
        async def beat():
            while True:
                await self.heartbeat(gateway_id)
                await asyncio.sleep(0.5)
        self.beating = asyncio.ensure_future(beat())

    def entry(self, socket, type, **fields):
        """One message of a switchboard.batch, with the next seq for socket."""
        self.seq[socket] = self.seq.get(socket, 0) + 1
        return {"type": type, "socket": socket, "worker": self.W, "seq": self.seq[socket], **fields}

    async def batch(self, gateway_id, messages):
        await self.layer.send(f"specific.{gateway_id}!ctl",
                              {"type": "switchboard.batch", "worker": self.W, "messages": messages})

    def inbox_types(self, redis):
        """The types of the messages waiting in W's inbox (read in Redis, not popped)."""
        key = "asgi" + self.W[: self.W.index("!") + 1]
        return [msgpack.unpackb(m[12:])["type"] for m in redis.cmd("ZRANGE", key, "0", "-1")]


def run_id(gw):
    return json.loads(gw.healthz()[1])["gateway"]


def ws_url(gw, path):
    return f"ws://127.0.0.1:{gw.port}{path}"


async def open_ws(gw, path, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("close_timeout", 2)
    return await websockets.connect(ws_url(gw, path), open_timeout=20, **kw)


async def handshake(worker, gw, path, render=None, **kw):
    """Browser connects; the worker accepts. (ws, S, connect message)."""
    task = asyncio.ensure_future(open_ws(gw, path, **kw))
    msg = await worker.connect()
    await worker.accept(msg["socket"], render=render)
    ws = await asyncio.wait_for(task, 20)
    return ws, msg["socket"], msg


class WorkerWire(ProcessTestCase):
    single_thread = True

    def cluster(self, layerds=1, gateways=1, gateway_args=(), layerd_args=()):
        c = self.start_cluster(layerds=layerds, gateways=gateways, gateway_args=[*ROUTES, *gateway_args],
                               layerd_args=layerd_args)
        self.redis_port = c.redis.port
        return c

    def metrics(self, gw):
        return scrape_metrics(gw.port)

    def test_accept_answers_101_with_the_scope_daphne_would_build(self):
        c = self.cluster(gateway_args=["--trusted-proxy", "127.0.0.1"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/part_2/?q=1&x=%20",
                                                 extra_headers={"Cookie": "sessionid=abc; csrftoken=t",
                                                                "X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
                                                 subprotocols=["p1", "p2"]))
            msg = await w.connect()
            S = msg["socket"]
            self.assertRegex(S, r"^specific\.gwa\.[0-9a-f]{16}![0-9a-f]+$")
            scope = msg["scope"]
            self.assertEqual(scope["type"], "websocket")
            self.assertEqual(scope["asgi"], {"version": "3.0"})
            self.assertEqual(scope["scheme"], "ws")
            self.assertEqual(scope["path"], "/ws/app/lobby/part_2/")
            self.assertEqual(scope["raw_path"], b"/ws/app/lobby/part_2/")
            self.assertEqual(scope["query_string"], b"q=1&x=%20")
            self.assertEqual(scope["root_path"], "")
            self.assertEqual(scope["url_route"], {"args": [], "kwargs": {"room": "lobby", "part": "part_2"}})
            headers = [tuple(h) for h in scope["headers"]]
            self.assertIn((b"cookie", b"sessionid=abc; csrftoken=t"), headers)
            self.assertTrue(all(k == k.lower() and isinstance(k, bytes) for k, _ in headers), headers)
            # --trusted-proxy: the address the proxy vouches for (the last X-Forwarded-For entry)
            self.assertEqual(scope["client"], ["203.0.113.7", 0])
            self.assertEqual(scope["server"], ["127.0.0.1", gw.port])
            self.assertEqual(scope["subprotocols"], ["p1", "p2"])
            self.assertFalse(task.done(), "no 101 before the worker accepts")
            await w.accept(S, subprotocol="p2")
            ws = await asyncio.wait_for(task, 20)
            self.assertEqual(ws.subprotocol, "p2")
            await ws.close()
            gone = await w.recv_type("websocket.disconnect")
            self.assertEqual((gone["socket"], gone["code"]), (S, 1000))
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="accepted"}'], 1)

    def test_close_before_accept_is_403_and_no_worker_is_503_after_the_timeout(self):
        c = self.cluster(gateway_args=["--connect-timeout-ms", "1000"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/a/"))
            msg = await w.connect()
            await w.to(msg["socket"], "websocket.close", code=4003)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
                await asyncio.wait_for(task, 20)
            self.assertEqual(e.exception.status_code, 403)
            # nobody reads `chat` now: 503 after --connect-timeout-ms (checked by the 1 s sweep)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
                await open_ws(gw, "/ws/app/lobby/b/")
            self.assertEqual(e.exception.status_code, 503)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="refused"}'], 1)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="timeout"}'], 1)

    def test_a_connect_layerd_cannot_write_is_503_at_once(self):
        # NAME's inbox holds one connect: with nobody reading, the first waits
        # out --connect-timeout-ms; the second is refused (channel_full) at once
        c = self.cluster(gateway_args=["--connect-timeout-ms", "8000"],
                         layerd_args=["--channel-capacity", "chat=1"])
        gw = c.gateways[0]

        async def body():
            first = asyncio.ensure_future(handshake_status(ws_url(gw, "/ws/app/lobby/a/")))
            await asyncio.sleep(0.5)
            self.assertEqual(await handshake_status(ws_url(gw, "/ws/app/lobby/b/")), 503)
            self.assertFalse(first.done(), "the first still waits for a worker")
            self.assertEqual(await asyncio.wait_for(first, 20), 503)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="unavailable"}'], 1)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="timeout"}'], 1)
        self.assertIn("channel_full", gw.log_text())

    def test_receive_and_send_text_and_binary_and_a_close_code(self):
        c = self.cluster()
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            await ws.send("hello ☃")
            got = await w.recv_type("websocket.receive")
            self.assertEqual((got["socket"], got["text"]), (S, "hello ☃"))
            self.assertNotIn("bytes", got)
            await ws.send(b"\x00\xffbin")
            got = await w.recv_type("websocket.receive")
            self.assertEqual(got["bytes"], b"\x00\xffbin")
            await w.to(S, "websocket.send", text="from the consumer")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), "from the consumer")
            await w.to(S, "websocket.send", bytes=b"\x01\x02")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), b"\x01\x02")
            await w.to(S, "websocket.close", code=4001)
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            self.assertEqual(ws.close_code, 4001)
            gone = await w.recv_type("websocket.disconnect")
            self.assertEqual(gone["code"], 4001)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_closes_total{reason="app_closed"}'], 1)
        self.assertGreaterEqual(m['switchboard_gateway_worker_messages_total{direction="to_worker"}'], 4)

    def test_a_browser_message_the_worker_cannot_get_closes_the_socket_1013(self):
        # W's inbox holds 3 messages: the worker reads none, so the 4th is refused (channel_full)
        c = self.cluster(layerd_args=["--channel-capacity", "specific.*=3"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            for i in range(6):
                await ws.send(f"m{i}")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            self.assertEqual(ws.close_code, 1013)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertGreaterEqual(m['switchboard_gateway_worker_dropped_total{reason="send_failed"}'], 1)
        self.assertEqual(m['switchboard_gateway_closes_total{reason="worker_unavailable"}'], 1)
        self.assertIn("reason=send_failed", gw.log_text())

    def test_accept_then_close_at_once_gives_the_browser_the_close_code(self):
        # Django's `await self.accept(); await self.close(code=4001)`: the close follows the 101
        c = self.cluster()
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/a/"))
            msg = await w.connect()
            S = msg["socket"]
            # The three in one burst, so the gateway reads them in one batch,
            # before its 101 is written: sent through layerd as SENDs from a
            # ZeroMQ client (the same DELIVERs as a worker's inbox writes).
            ctx = zmq.Context()
            self.addCleanup(ctx.term)
            sock = ctx.socket(zmq.DEALER)
            self.addCleanup(sock.close, 0)
            sock.setsockopt(zmq.IDENTITY, b"cli.0123456789abcdef")
            sock.connect(c.layerds[0].endpoint)
            sock.send_multipart([bytes([1]), msgpack.packb([1, 3, "cli.0123456789abcdef", 1])])
            self.assertTrue(sock.poll(10000), "WELCOME")
            sock.recv_multipart()
            burst = [{"type": "websocket.accept", "worker": w.W, "seq": 1, "subprotocol": None},
                     {"type": "websocket.send", "worker": w.W, "seq": 2, "text": "bye"},
                     {"type": "websocket.close", "worker": w.W, "seq": 3, "code": 4001}]
            for m in burst:
                sock.send_multipart([bytes([6]), msgpack.packb([S, msgpack.packb(m)], use_bin_type=True)])
            ws = await asyncio.wait_for(task, 20)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), "bye")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            self.assertEqual(ws.close_code, 4001)
        arun(body(), 90)

    def test_out_of_order_seq_is_applied_in_order_and_a_duplicate_dropped(self):
        c = self.cluster()
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            await w.to(S, "websocket.send", seq=4, text="d")
            await w.to(S, "websocket.send", seq=3, text="c")
            await w.to(S, "websocket.send", seq=2, text="b")
            await w.to(S, "websocket.send", seq=2, text="again")
            got = [await asyncio.wait_for(ws.recv(), 15) for _ in range(3)]
            self.assertEqual(got, ["b", "c", "d"])
            await w.to(S, "websocket.send", seq=5, text="e")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), "e")
            # a gap that never fills: 1011 after about 2 s
            await w.to(S, "websocket.send", seq=7, text="g")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            self.assertEqual(ws.close_code, 1011)
        arun(body(), 90)
        wait_until(lambda: self.metrics(gw)['switchboard_gateway_worker_dropped_total{reason="out_of_order"}'] >= 2,
                   10, "the duplicate and the gap counted")
        self.assertEqual(self.metrics(gw)['switchboard_gateway_closes_total{reason="out_of_order"}'], 1)

    def test_bad_messages_are_counted_and_the_socket_goes_on(self):
        c = self.cluster()
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            await w.layer.send(S, {"type": "switchboard.bogus", "worker": w.W, "seq": 2})
            await w.layer.send(S, {"type": "websocket.send", "worker": w.W, "text": "no seq"})
            await w.layer.send(S, {"type": "websocket.send", "worker": w.W, "seq": 2, "text": "x" * 70000})
            await w.layer.send(S, {"type": "websocket.send", "worker": "not a channel", "seq": 2, "text": "x"})
            await w.layer.send(S, {"type": "websocket.send", "worker": w.W, "seq": 2, "text": 5})
            await w.to(S, "websocket.send", seq=2, text="still here")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), "still here")
            # a bad RENDER refuses the socket with 403
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/b/"))
            msg = await w.connect()
            await w.accept(msg["socket"], render={"chat_message": "message"})
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
                await asyncio.wait_for(task, 20)
            self.assertEqual(e.exception.status_code, 403)
            # a subprotocol the browser did not offer: 403 too
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/c/", subprotocols=["p1"]))
            msg = await w.connect()
            await w.accept(msg["socket"], subprotocol="p9")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
                await asyncio.wait_for(task, 20)
            self.assertEqual(e.exception.status_code, 403)
            await ws.close()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="refused"}'], 2)
        self.assertGreaterEqual(m['switchboard_gateway_worker_dropped_total{reason="bad_message"}'], 6)
        self.assertIn("worker message dropped", gw.log_text())
        self.assertTrue(gw.alive())

    def test_groups_fast_path_forwarded_events_and_group_send_from_the_worker(self):
        c = self.cluster()
        gw = c.gateways[0]
        gid = run_id(gw)

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/", render={"chat_message": ["message"]})
            await w.to(S, "switchboard.group_add", group="chat_lobby")
            chat = await open_ws(gw, "/ws/chat/lobby/")
            # the join is in once a message from the chat socket reaches the django socket
            for i in range(50):
                await chat.send(json.dumps({"message": f"hi {i}"}))
                try:
                    got = await asyncio.wait_for(ws.recv(), 0.5)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                self.fail("the django socket never got the room's messages")
            self.assertEqual(json.loads(got), {"message": f"hi {i}"})
            # a channels_redis group_send of another type goes to the worker
            await w.layer.group_send("chat_lobby", {"type": "user.joined", "who": "ann"})
            ev = await w.recv_type("switchboard.event")
            print("EV", ev)
            self.assertEqual((ev["socket"], ev["event"]), (S, {"type": "user.joined", "who": "ann"}))
            # a channels_redis group_send of chat.message is rendered by the gateway
            await w.layer.group_send("chat_lobby", {"type": "chat.message", "message": "from django"})
            self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 15)), {"message": "from django"})
            await asyncio.sleep(1)
            self.assertEqual([t for t in w.inbox_types(c.redis) if t != "switchboard.alive"], [],
                             "nothing at W for the rendered ones")
            # the worker's group_send reaches the built-in chat socket
            await w.to(S, "switchboard.group_send", group="chat_lobby",
                       message={"type": "chat.message", "message": "from the consumer"})
            while True:
                m = json.loads(await asyncio.wait_for(chat.recv(), 15))
                if seed_view(m) == {"message": "from the consumer"}:
                    break
            # group_discard: no more deliveries
            await w.to(S, "switchboard.group_discard", group="chat_lobby")
            await asyncio.sleep(0.5)
            await chat.send(json.dumps({"message": "after discard"}))
            await w.to(S, "websocket.send", text="marker")
            while True:
                m = await asyncio.wait_for(ws.recv(), 15)
                self.assertNotIn("after discard", m)
                if m == "marker":
                    break
            await chat.close()
            await ws.close()
            w.beating.cancel()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertGreaterEqual(m["switchboard_gateway_worker_events_rendered_total"], 2)
        self.assertEqual(m["switchboard_gateway_worker_events_forwarded_total"], 1)

    def test_a_batch_joins_and_sends_in_order_and_the_groups_are_left_when_the_socket_ends(self):
        # The socket's door (gateway/worker_door.hpp) applies group_add and
        # group_send on the link's thread and hands the socket its local
        # membership first: a group_send right after the group_add, in the
        # same batch, comes back to the socket itself. When the socket ends,
        # the door discards every group the worker left it in.
        c = self.cluster()
        gw = c.gateways[0]
        gid = run_id(gw)
        groups = [f"door_{i}" for i in range(3)]

        def members(g):
            return c.redis.cmd("ZRANGE", f"asgi:group:{g}", 0, -1)

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            socks = []
            # several sockets, so that some live on other I/O threads than the link's
            for i in range(4):
                ws, S, _ = await handshake(w, gw, f"/ws/app/door/{i}/", render={"chat_message": ["message"]})
                socks.append((ws, S))
            for i, (ws, S) in enumerate(socks):
                await w.batch(gid, [*(w.entry(S, "switchboard.group_add", group=g) for g in groups),
                                    w.entry(S, "switchboard.group_send", group=groups[i % 3],
                                            message={"type": "chat.message", "message": f"own {i}"})])
                self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 15)), {"message": f"own {i}"})
            # each earlier socket, in every group by then, got the later ones' too, in order
            for i, (ws, _) in enumerate(socks):
                for j in range(i + 1, len(socks)):
                    self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 15)), {"message": f"own {j}"})
            for g in groups:
                self.assertEqual(sorted(m.decode() for m in members(g)), sorted(S for _, S in socks))
            # the browser goes: its groups are left, the other sockets stay in theirs
            gone_ws, gone = socks.pop(0)
            await gone_ws.close()
            await await_until(lambda: all(gone.encode() not in members(g) for g in groups), 15,
                              "the socket left every group the worker put it in")
            for g in groups:
                self.assertEqual(len(members(g)), len(socks))
            # a group_discard in the same batch as a send: nothing of the group after it
            ws, S = socks[0]
            await w.batch(gid, [w.entry(S, "switchboard.group_discard", group=groups[0]),
                                w.entry(S, "websocket.send", text="left")])
            self.assertEqual(await asyncio.wait_for(ws.recv(), 15), "left")
            # layerd writes the discard to Redis on its own time (the worker does not wait for it)
            await await_until(lambda: S.encode() not in members(groups[0]), 15, "S left the group in Redis")
            await w.layer.group_send(groups[0], {"type": "chat.message", "message": "not for S"})
            await w.layer.group_send(groups[1], {"type": "chat.message", "message": "for S"})
            self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 15)), {"message": "for S"})
            for ws, _ in socks:
                await ws.close()
            await await_until(lambda: all(not members(g) for g in groups), 15, "every group empty")
            w.beating.cancel()
        arun(body(), 90)

    def test_a_batch_from_the_worker_applies_each_entry_and_drops_bad_ones(self):
        c = self.cluster()
        gw = c.gateways[0]
        gid = run_id(gw)

        async def body():
            w = await Worker(self, self.redis_port).start()
            tasks = [asyncio.ensure_future(open_ws(gw, f"/ws/app/lobby/{p}/")) for p in ("a", "b")]
            connects = [await w.connect(), await w.connect()]
            self.assertTrue(all(m["batch"] is True for m in connects), "the gateway takes batches")
            # the connects may come in another order than the browsers opened: matched by path
            S1, S2 = (m["socket"] for m in sorted(connects, key=lambda m: m["scope"]["path"]))
            # both accepts in one batch, on the control channel
            await w.batch(gid, [w.entry(S1, "websocket.accept", subprotocol=None),
                                w.entry(S2, "websocket.accept", subprotocol=None)])
            ws1, ws2 = [await asyncio.wait_for(t, 20) for t in tasks]
            # sends to both, each socket's in its seq order, with bad entries between
            # (not a map, no socket, another gateway's socket): those dropped, the rest applied
            await w.batch(gid, [w.entry(S1, "websocket.send", text="1a"), "not a map",
                                w.entry(S2, "websocket.send", text="2a"),
                                {"type": "websocket.send", "worker": w.W, "seq": 9, "text": "x"},
                                {"type": "websocket.send", "socket": "specific.other.0123456789abcdef!1",
                                 "worker": w.W, "seq": 1, "text": "x"},
                                w.entry(S1, "websocket.send", text="1b"),
                                w.entry(S2, "websocket.send", text="2b")])
            self.assertEqual([await asyncio.wait_for(ws1.recv(), 15) for _ in range(2)], ["1a", "1b"])
            self.assertEqual([await asyncio.wait_for(ws2.recv(), 15) for _ in range(2)], ["2a", "2b"])
            # over 1,000 messages: refused as a whole
            first = w.seq[S1] + 1
            await w.batch(gid, [w.entry(S1, "websocket.send", text=f"big {i}") for i in range(1001)])
            w.seq[S1] = first - 1
            await w.batch(gid, [w.entry(S1, "websocket.send", text="after")])
            self.assertEqual(await asyncio.wait_for(ws1.recv(), 15), "after")
            # the old form still works beside it
            await w.to(S2, "websocket.send", text="unbatched")
            self.assertEqual(await asyncio.wait_for(ws2.recv(), 15), "unbatched")
            await ws1.close()
            await ws2.close()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m['switchboard_gateway_worker_batches_total{direction="from_worker"}'], 3)
        self.assertEqual(m['switchboard_gateway_worker_dropped_total{reason="bad_message"}'], 4)
        self.assertIn("switchboard.batch refused", gw.log_text())
        self.assertIn("switchboard.batch entries dropped", gw.log_text())

    def test_an_event_for_sockets_of_a_batching_worker_goes_once_naming_them(self):
        # A batching worker's sockets are told to layerd with their worker at
        # the accept (and with every group after it): the group's layerd
        # writes the event their RENDER does not cover to W itself, once for
        # all of them, and the gateway sends nothing for them
        # (layerd/worker_members.hpp). An older worker's socket still gets
        # its event from the gateway, per socket.
        mport = free_port()
        c = self.cluster(layerd_args=["--metrics-listen", f"127.0.0.1:{mport}"])
        gw = c.gateways[0]
        gid = run_id(gw)

        async def body():
            w = await Worker(self, self.redis_port).start()
            old = await Worker(self, self.redis_port).start()  # accepts unbatched: per-socket events
            w.keep_alive(gid)
            old.keep_alive(gid)
            tasks = [asyncio.ensure_future(open_ws(gw, f"/ws/app/lobby/{p}/")) for p in ("a", "b", "c")]
            by_path = {m["scope"]["path"]: m["socket"] for m in [await w.connect() for _ in range(3)]}
            S1, S2, S3 = (by_path[f"/ws/app/lobby/{p}/"] for p in ("a", "b", "c"))
            render = {"chat_message": ["message"]}
            # S1 joins before its accept (the tutorial's connect()), S2 after it
            await w.batch(gid, [w.entry(S1, "switchboard.group_add", group="room"),
                                w.entry(S1, "websocket.accept", subprotocol=None, switchboard={"render": render}),
                                w.entry(S2, "websocket.accept", subprotocol=None, switchboard={"render": render}),
                                w.entry(S2, "switchboard.group_add", group="room")])
            await old.accept(S3)
            await old.to(S3, "switchboard.group_add", group="room")
            socks = [await asyncio.wait_for(t, 20) for t in tasks]
            await await_until(lambda: scrape_metrics(mport).get("switchboard_layerd_worker_members") == 2, 10,
                        "layerd knows both sockets' worker")
            # a group_send through the gateway (GROUP_SEND, fanned out by layerd)
            await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="room",
                                        message={"type": "user.joined", "who": "ann"})])
            ev = await w.recv_type("switchboard.event")
            self.assertEqual(ev["event"], {"type": "user.joined", "who": "ann"})
            self.assertEqual(sorted(ev["sockets"]), sorted([S1, S2]), "one message naming both sockets")
            self.assertNotIn("socket", ev)
            ev3 = await old.recv_type("switchboard.event")
            self.assertEqual((ev3["socket"], ev3["event"]), (S3, {"type": "user.joined", "who": "ann"}))
            # the event the RENDER covers is the gateway's to render: frames, no worker message
            await w.batch(gid, [w.entry(S2, "switchboard.group_send", group="room",
                                        message={"type": "chat.message", "message": "hi"})])
            for ws in socks[:2]:
                self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 10)), {"message": "hi"})
            ev3 = await old.recv_type("switchboard.event")
            self.assertEqual(ev3["event"], {"type": "chat.message", "message": "hi"})
            await asyncio.sleep(0.5)
            self.assertEqual([t for t in w.inbox_types(c.redis) if t != "switchboard.alive"], [],
                             "nothing more for W: not from the gateway, not twice")
            for ws in socks:
                await ws.close()
            w.beating.cancel()
            old.beating.cancel()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m["switchboard_gateway_worker_events_forwarded_total"], 2)  # S3's two
        self.assertEqual(m["switchboard_gateway_worker_events_by_layerd_total"], 2)
        self.assertEqual(m["switchboard_gateway_worker_events_rendered_total"], 2)
        lm = scrape_metrics(mport)
        self.assertEqual(lm["switchboard_layerd_worker_events_total"], 1)
        self.assertEqual(lm["switchboard_layerd_worker_event_sockets_total"], 2)
        self.assertEqual(lm["switchboard_layerd_worker_routes_refused_total"], 0)
        # the sockets closed: layerd forgot their worker with their membership
        wait_until(lambda: scrape_metrics(mport).get("switchboard_layerd_worker_members") == 0, 10,
                    "layerd forgets the closed sockets' worker")

    def test_a_layerd_that_takes_a_group_over_writes_its_worker_events_from_the_sync(self):
        # Two layerds: the group's owner writes the socket's events to W; it
        # is killed, the gateway SYNCs the next owner with the socket's
        # worker, and that one writes them from then on. W gets each event
        # once, and never from the gateway.
        redis = self.start_redis()
        self.redis_port = redis.port
        mports = [free_port(), free_port()]
        lds = [self.start_layerd(redis.url, id=f"layerd{i}",
                                 extra_args=["--metrics-listen", f"127.0.0.1:{mports[i]}"]) for i in range(2)]
        gw = self.start_gateway([l.endpoint for l in lds], extra_args=ROUTES, id="gwa")
        self.wait_links_up(Cluster(redis, lds, [gw]))
        gid = run_id(gw)

        def members(i):
            try:
                return scrape_metrics(mports[i]).get("switchboard_layerd_worker_members")
            except Exception:
                return None

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/a/"))
            S = (await w.connect())["socket"]
            await w.batch(gid, [w.entry(S, "websocket.accept", subprotocol=None, switchboard={"render": {}}),
                                w.entry(S, "switchboard.group_add", group="room")])
            ws = await asyncio.wait_for(task, 20)
            await await_until(lambda: members(0) == 1 or members(1) == 1, 10, "the owner knows the socket's worker")
            owner = 0 if members(0) == 1 else 1
            other = 1 - owner
            self.assertEqual(members(other), 0)

            async def one_event(n):
                await w.batch(gid, [w.entry(S, "switchboard.group_send", group="room",
                                            message={"type": "user.joined", "n": n})])
                ev = await w.recv_type("switchboard.event")
                self.assertEqual((ev["socket"], ev["event"]), (S, {"type": "user.joined", "n": n}))

            await one_event(1)
            self.assertEqual(scrape_metrics(mports[owner])["switchboard_layerd_worker_event_sockets_total"], 1)
            lds[owner].kill(signal.SIGKILL)
            await await_until(lambda: members(other) == 1, 15, "the new owner learns the worker from the SYNC")
            await one_event(2)
            self.assertEqual(scrape_metrics(mports[other])["switchboard_layerd_worker_event_sockets_total"], 1)
            await asyncio.sleep(0.5)
            self.assertEqual([t for t in w.inbox_types(redis) if t != "switchboard.alive"], [], "each event once")
            await ws.close()
            w.beating.cancel()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m["switchboard_gateway_worker_events_forwarded_total"], 0)
        self.assertEqual(m["switchboard_gateway_worker_events_by_layerd_total"], 2)

    async def batching_sockets(self, w, gw, n):
        """n sockets W accepts in one switchboard.batch: (websockets, names)."""
        tasks = [asyncio.ensure_future(open_ws(gw, f"/ws/app/lobby/p{i}/")) for i in range(n)]
        # the connects may come in another order than the browsers opened: matched by path
        by_path = {m["scope"]["path"]: m["socket"] for m in [await w.connect() for _ in range(n)]}
        names = [by_path[f"/ws/app/lobby/p{i}/"] for i in range(n)]
        await w.batch(run_id(gw), [w.entry(S, "websocket.accept", subprotocol=None) for S in names])
        return [await asyncio.wait_for(t, 20) for t in tasks], names

    def test_browser_messages_for_a_batching_worker_share_sends_in_order(self):
        # W's inbox holds 1,000 (a slow reader must not make layerd refuse a receive: 1013)
        c = self.cluster(gateway_args=["--rate-limit", "1000", "--rate-burst", "1000"],
                         layerd_args=["--channel-capacity", "specific.*=1000"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(run_id(gw))
            socks, names = await self.batching_sockets(w, gw, 3)
            # layerd paused while the browsers send: the first SEND waits
            # for its ACK, so what comes meanwhile must share sends (on an
            # idle machine an ACK may otherwise beat the next frame).
            c.layerds[0].signal_group(signal.SIGSTOP)
            try:
                await asyncio.gather(*[ws.send(f"{i}:{k}") for k in range(40) for i, ws in enumerate(socks)])
                await asyncio.sleep(0.3)
            finally:
                c.layerds[0].signal_group(signal.SIGCONT)
            got, pops, biggest = {S: [] for S in names}, 0, 0
            while sum(len(v) for v in got.values()) < 120:
                m = await w.recv()
                if m["type"] == "switchboard.alive":
                    continue
                pops += 1
                entries = m["messages"] if m["type"] == "switchboard.batch" else [m]
                biggest = max(biggest, len(entries))
                for e in entries:
                    self.assertEqual(e["type"], "websocket.receive", e)
                    got[e["socket"]].append(e["text"])
            browsers = set()
            for S in names:  # which browser is which S is the gateway's business
                i = got[S][0].split(":")[0]
                browsers.add(i)
                self.assertEqual(got[S], [f"{i}:{k}" for k in range(40)], "each socket's messages in frame order")
            self.assertEqual(browsers, {"0", "1", "2"})
            self.assertLess(pops, 120, "messages that came while a send was in flight shared one")
            self.assertGreater(biggest, 1)
            for ws in socks:
                await ws.close()
            w.beating.cancel()
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertGreaterEqual(m['switchboard_gateway_worker_batches_total{direction="to_worker"}'], 1)

    def test_a_batch_the_worker_cannot_get_closes_each_of_its_sockets_1013(self):
        # W's inbox holds 1 message and the worker reads none: the first receive fills
        # it, and whatever comes after (alone or in a batch) is refused: each socket 1013
        c = self.cluster(layerd_args=["--channel-capacity", "specific.*=1"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            socks, names = await self.batching_sockets(w, gw, 3)
            await asyncio.sleep(0.5)
            await socks[0].send("fills the inbox")
            await asyncio.sleep(0.5)
            await asyncio.gather(*[ws.send(f"m{k}") for k in range(5) for ws in socks], return_exceptions=True)
            for ws in socks:
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 15)
                self.assertEqual(ws.close_code, 1013)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertGreaterEqual(m['switchboard_gateway_worker_dropped_total{reason="send_failed"}'], 3)

    def frozen_layerd(self, layerd):
        """SIGSTOP: the link to it stays up (a long --layerd-timeout-ms) but
        nothing it is sent is answered; SIGCONT in the cleanup."""
        layerd.signal_group(signal.SIGSTOP)
        self.addCleanup(layerd.signal_group, signal.SIGCONT)

    def test_a_send_layerd_never_answers_fails_after_the_send_timeout(self):
        # A layerd that stays up but never answers (frozen, its link not yet
        # timed out): the SEND of a browser message and a new socket's
        # connect fail after --send-timeout-ms, a browser message's socket
        # closed with 1013, the connect 503 (docs/protocol.md, Part 3,
        # Liveness). The other timeouts are far away, so only this one can act.
        c = self.cluster(gateway_args=["--send-timeout-ms", "1000", "--layerd-timeout-ms", "120000",
                                       "--connect-timeout-ms", "60000", "--worker-timeout-ms", "120000"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            self.frozen_layerd(c.layerds[0])
            await ws.send("never answered")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 20)
            self.assertEqual(ws.close_code, 1013)
            self.assertEqual(await handshake_status(ws_url(gw, "/ws/app/lobby/b/"), timeout=30), 503)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertGreaterEqual(m["switchboard_gateway_worker_sends_timed_out_total"], 2)
        self.assertEqual(m['switchboard_gateway_worker_connects_total{outcome="unavailable"}'], 1)
        self.assertEqual(m['switchboard_gateway_closes_total{reason="worker_unavailable"}'], 1)
        self.assertIn('reason="no answer from layerd"', gw.log_text())

    def test_past_the_bound_of_messages_waiting_for_one_worker_a_message_fails_1013(self):
        # W's SEND in flight never answered (layerd frozen, no send timeout to
        # speak of): what the browser sends meanwhile waits in the gateway
        # for W, at most 10,000 messages or 16 MiB; past either a message
        # fails at once like a failed SEND, its socket closed 1013
        # (docs/protocol.md, Part 3, Batches).
        c = self.cluster(gateway_args=["--send-timeout-ms", "600000", "--layerd-timeout-ms", "600000",
                                       "--worker-timeout-ms", "600000", "--rate-limit", "100000",
                                       "--rate-burst", "100000", "--max-message-size", "1048576"])
        gw = c.gateways[0]

        async def flood(ws, messages):
            """Sends until the gateway closes ws; its close code."""
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                for text in messages:
                    await ws.send(text)
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            return ws.close_code

        async def body():
            w1 = await Worker(self, self.redis_port).start()
            (by_count,), _ = await self.batching_sockets(w1, gw, 1)
            w2 = await Worker(self, self.redis_port).start()
            (by_bytes,), _ = await self.batching_sockets(w2, gw, 1)
            self.frozen_layerd(c.layerds[0])
            # one in flight, then 10,000 waiting: within the bound
            for i in range(10001):
                await by_count.send(f"m{i}")
            await asyncio.sleep(0.5)
            self.assertIsNone(by_count.close_code, "10,000 waiting is within the bound")
            self.assertEqual(await flood(by_count, ["one too many"]), 1013)
            # the other W: one in flight, then 16 x 1,000,000 bytes fit in 16 MiB, the next does not
            big = "x" * 1000000
            self.assertEqual(await flood(by_bytes, [big] * 30), 1013)
        arun(body(), 120)
        m = self.metrics(gw)
        self.assertGreaterEqual(m['switchboard_gateway_worker_dropped_total{reason="send_failed"}'], 2)
        self.assertEqual(m['switchboard_gateway_closes_total{reason="worker_unavailable"}'], 2)
        self.assertIn("too many messages waiting for this worker process", gw.log_text())

    def test_a_silent_worker_closes_its_sockets_with_1012(self):
        c = self.cluster(gateway_args=["--worker-timeout-ms", "1500"])
        gw = c.gateways[0]

        gid = run_id(gw)

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            # alive while it beats
            for _ in range(6):
                await w.heartbeat(gid)
                await asyncio.sleep(0.5)
            self.assertEqual(ws.close_code, None)
            alive = await w.recv_type("switchboard.alive")
            self.assertEqual(alive["gateway"], gid)
            self.assertEqual(alive["sockets"], [S.split("!")[1]])
            # then silent: closed 1012 within the timeout plus a sweep
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            self.assertEqual(ws.close_code, 1012)
        arun(body(), 90)
        m = self.metrics(gw)
        self.assertEqual(m["switchboard_gateway_workers_lost_total"], 1)
        self.assertEqual(m['switchboard_gateway_closes_total{reason="worker_lost"}'], 1)

    def test_two_layerds_keep_one_workers_order_and_a_late_accept_is_answered(self):
        c = self.cluster(layerds=2, gateway_args=["--connect-timeout-ms", "1000"])
        gw = c.gateways[0]

        async def body():
            w = await Worker(self, self.redis_port).start()
            ws, S, _ = await handshake(w, gw, "/ws/app/lobby/a/")
            for i in range(40):
                await ws.send(f"m{i}")
            got = [(await w.recv_type("websocket.receive"))["text"] for _ in range(40)]
            self.assertEqual(got, [f"m{i}" for i in range(40)])
            for i in range(40):
                await w.to(S, "websocket.send", text=f"r{i}")
            got = [await asyncio.wait_for(ws.recv(), 15) for _ in range(40)]
            self.assertEqual(got, [f"r{i}" for i in range(40)])
            await ws.close()
            # a connect that times out; the worker's late accept gets a disconnect 1006
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/b/"))
            msg = await w.connect()
            with self.assertRaises(websockets.exceptions.InvalidStatusCode):
                await asyncio.wait_for(task, 20)
            late = await Worker(self, self.redis_port).start()
            await late.accept(msg["socket"])
            gone = await late.recv_type("websocket.disconnect")
            self.assertEqual((gone["socket"], gone["code"]), (msg["socket"], 1006))
        arun(body(), 120)
        self.assertGreaterEqual(self.metrics(gw)['switchboard_gateway_worker_dropped_total{reason="unknown_socket"}'], 1)



class FakeLayerd(threading.Thread):
    """A layerd played by the test on a ROUTER (docs/protocol.md, Part 2):
    it says WELCOME with `minor`, answers HEARTBEATs, ACKs every GROUP_ADD
    and every SEND with a request, records what the gateway sent, and sends
    the gateway what the test queues. Bounded: it stops with stop()."""
    HELLO, WELCOME, GROUP_ADD, SEND, HEARTBEAT, DELIVER, ACK = 1, 2, 3, 6, 7, 8, 10

    def __init__(self, minor):
        super().__init__(daemon=True)
        self.minor = minor
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.got = []  # (kind, body)
        self.outgoing = queue.Queue()
        self.peer = None
        self.running = True

    def run(self):
        while self.running:
            while self.peer is not None and not self.outgoing.empty():
                kind, body = self.outgoing.get()
                self.sock.send_multipart([self.peer, bytes([kind]), msgpack.packb(body, use_bin_type=True)])
            if not self.sock.poll(50):
                continue
            peer, kind, raw = self.sock.recv_multipart()
            self.peer, kind = peer, kind[0]
            body = msgpack.unpackb(raw, raw=False)
            self.got.append((kind, body))
            if kind == self.HELLO:
                self.reply(self.WELCOME, [1, self.minor, "fake"])
            elif kind == self.HEARTBEAT:
                self.reply(self.HEARTBEAT, [])
            elif kind == self.GROUP_ADD or (kind == self.SEND and len(body) > 2 and body[2]):
                self.reply(self.ACK, [body[0] if kind == self.GROUP_ADD else body[2]])

    def reply(self, kind, body):
        self.sock.send_multipart([self.peer, bytes([kind]), msgpack.packb(body, use_bin_type=True)])

    def stop(self):
        self.running = False
        self.join(5)
        self.sock.close(0)
        self.ctx.term()


class WorkerRouteVersions(ProcessTestCase):
    """A socket's worker goes to layerd only if the layerd speaks 1.5
    (docs/protocol.md, Versions): a 1.4 layerd gets GROUP_ADDs as before."""

    def group_adds_for_an_accepted_socket(self, minor):
        fake = FakeLayerd(minor)
        fake.start()
        self.addCleanup(fake.stop)
        gw = self.start_gateway([fake.endpoint], extra_args=ROUTES, id="gwa")
        gid = run_id(gw)
        W = "specific.fakeworker!w1"

        async def body():
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/a/"))
            connect = None
            for _ in range(200):
                sends = [b for k, b in list(fake.got) if k == FakeLayerd.SEND and b[0] == "chat"]
                if sends:
                    connect = msgpack.unpackb(sends[0][1], raw=False)
                    break
                await asyncio.sleep(0.05)
            self.assertIsNotNone(connect, "the gateway sent the connect")
            S = connect["socket"]
            batch = {"type": "switchboard.batch", "worker": W, "messages": [
                {"type": "switchboard.group_add", "group": "room", "socket": S, "worker": W, "seq": 1},
                {"type": "websocket.accept", "subprotocol": None, "switchboard": {"render": {"chat_message": ["message"]}},
                 "socket": S, "worker": W, "seq": 2}]}
            fake.outgoing.put((FakeLayerd.DELIVER, [["ctl"], msgpack.packb(batch, use_bin_type=True)]))
            ws = await asyncio.wait_for(task, 20)

            def adds():
                return [b for k, b in list(fake.got) if k == FakeLayerd.GROUP_ADD and b[2] == S]
            await await_until(lambda: len(adds()) == 2, 10, "the join, then its restatement at the accept")
            await ws.close()
            return adds(), gid
        return arun(body(), 60)

    def test_a_layerd_of_1_4_gets_no_worker(self):
        (first, second), _ = self.group_adds_for_an_accepted_socket(4)
        self.assertEqual(first[1], "room")
        self.assertLessEqual(len(first), 4)
        self.assertLessEqual(len(second), 4, second)

    def test_a_layerd_of_1_5_gets_the_worker_and_its_render(self):
        (first, second), _ = self.group_adds_for_an_accepted_socket(5)
        self.assertLessEqual(len(first), 4)  # before the accept: no worker known
        self.assertEqual(len(second), 5, second)
        self.assertIsNone(second[3])  # no user
        worker, render = second[4]
        self.assertEqual(worker, "specific.fakeworker!w1")
        self.assertEqual(msgpack.unpackb(render, raw=False), {"chat_message": ["message"]})


class WorkerWireThreads(WorkerWire):
    """The same with three I/O threads: sockets on other threads than the link's."""
    single_thread = False

    def cluster(self, layerds=1, gateways=1, gateway_args=(), layerd_args=()):
        return super().cluster(layerds, gateways, ["--threads", "3", *gateway_args], layerd_args)


if __name__ == "__main__":
    unittest.main()
