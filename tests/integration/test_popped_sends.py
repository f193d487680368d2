# test_popped_sends.py — a sole gateway's workers' group_sends, applied by
# the layerd that pops their batch (docs/protocol.md, Part 3, "Group sends
# applied where they are popped"; layerd/popped_sends.hpp).
#
# The worker is the test, with Debian's channels_redis (test_worker_wire.py's
# Worker); redis-server, layerd and gateways are real, on loopback. Covered:
# with one layerd, a group_send in a popped batch is fanned out by layerd
# (counted on both sides) and reaches worker sockets and built-in chat
# sockets alike; a group_send behind its socket's own group_add, or behind a
# send, in the same batch, or behind one sent to the socket alone, keeps its
# order; a layerd restarted on the same
# endpoint applies nothing until the gateway has answered it, then applies
# again, each event once; with two layerds nothing is applied where popped. The gateway's side against a layerd played by the
# test (FakeLayerd): it answers a DELIVER's serial with BATCH_DONE, naming
# the sockets whose messages wait for a seq, and sends no GROUP_SEND for an
# applied entry (but does for one whose index names no group_send). A peer
# playing a sole gateway: a BATCH_DONE for a serial never given is ignored
# and logged, one naming over 10,000 waiting sockets is refused.
import asyncio
import json
import time

import msgpack
import zmq

from harness import ProcessTestCase, arun, await_until, free_port, scrape_metrics
from test_worker_wire import ROUTES, FakeLayerd, Worker, handshake, open_ws, run_id

BATCH_DONE = 18
GROUP_SEND = 5
RENDER = {"chat_message": ["message"]}


def chat(m):
    return {"type": "chat.message", "message": m}


async def two_connects(w, gw, room):
    """Two browsers open /ws/app/<room>/a/ and /b/; the worker has both
    connects. (the browsers' open tasks, (S of a, S of b))."""
    tasks = [asyncio.ensure_future(open_ws(gw, f"/ws/app/{room}/{p}/")) for p in ("a", "b")]
    by_path = {m["scope"]["path"]: m["socket"] for m in [await w.connect() for _ in range(2)]}
    return tasks, (by_path[f"/ws/app/{room}/a/"], by_path[f"/ws/app/{room}/b/"])


async def recv_json(ws, timeout=15):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


class PoppedSends(ProcessTestCase):
    single_thread = True

    def cluster(self, layerds=1):
        self.mport = free_port()
        self.dones_before = 0  # the gateway's BATCH_DONEs sent to an earlier layerd
        c = self.start_cluster(layerds=layerds, gateways=1, gateway_args=ROUTES,
                               layerd_args=["--metrics-listen", f"127.0.0.1:{self.mport}"] if layerds == 1 else [])
        self.redis_port = c.redis.port
        return c

    def lm(self, name):
        return scrape_metrics(self.mport).get(f"switchboard_layerd_{name}", 0)

    def gm(self, gw, name):
        return scrape_metrics(gw.port).get(f"switchboard_gateway_{name}", 0)

    async def settled(self, gw):
        """Wait until layerd has every BATCH_DONE the gateway sent (call it once the
        browser saw the last batch's effect: the gateway answered it by then)."""
        await await_until(lambda: self.gm(gw, "batch_dones_total") > self.dones_before and
                          self.lm("batch_dones_total") + self.dones_before >= self.gm(gw, "batch_dones_total"), 10,
                          "layerd has the gateway's BATCH_DONE")

    def test_a_sole_gateways_group_sends_are_fanned_out_where_popped_and_keep_each_sockets_order(self):
        c = self.cluster()
        gw = c.gateways[0]
        gid = run_id(gw)
        self.assertIn(f"gateway joined gateway={gid} sole=true", c.layerds[0].log_text())

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            tasks, (S1, S2) = await two_connects(w, gw, "pop")
            await w.batch(gid, [w.entry(S1, "switchboard.group_add", group="chat_pop"),
                                w.entry(S1, "websocket.accept", subprotocol=None, switchboard={"render": RENDER}),
                                w.entry(S2, "switchboard.group_add", group="chat_pop"),
                                w.entry(S2, "websocket.accept", subprotocol=None, switchboard={"render": RENDER})])
            ws1, ws2 = [await asyncio.wait_for(t, 20) for t in tasks]
            builtin = await open_ws(gw, "/ws/chat/pop/")  # the built-in chat consumer: group chat_pop
            await await_until(lambda: len(c.redis.cmd("ZRANGE", "asgi:group:chat_pop", 0, -1)) == 3, 10,
                              "three members")
            await await_until(lambda: self.lm("worker_members") == 2, 10, "layerd knows both sockets' worker")
            await self.settled(gw)
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 0)

            # 1. a group_send alone in its batch: layerd fans it out, the gateway sends nothing
            await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="chat_pop", message=chat("one"))])
            for ws in (ws1, ws2, builtin):
                self.assertEqual(await recv_json(ws), {"message": "one"})
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 1)
            self.assertEqual(self.lm("worker_group_sends_left_total"), 0)
            self.assertEqual(self.gm(gw, "worker_group_sends_by_layerd_total"), 1)

            # 2. behind its socket's group_add in the same batch: left to the door, which joins first
            await w.batch(gid, [w.entry(S1, "switchboard.group_add", group="chat_new"),
                                w.entry(S1, "switchboard.group_send", group="chat_new", message=chat("two"))])
            self.assertEqual(await recv_json(ws1), {"message": "two"})
            self.assertEqual(self.lm("worker_group_sends_left_total"), 1)
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 1)
            # once that batch is done at the gateway, S1's next group_send is layerd's again
            await self.settled(gw)
            await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="chat_new", message=chat("three"))])
            self.assertEqual(await recv_json(ws1), {"message": "three"})
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 2)

            # 3. behind a send of the same socket: the browser has the send first
            await w.batch(gid, [w.entry(S2, "websocket.send", text="before"),
                                w.entry(S2, "switchboard.group_send", group="chat_pop", message=chat("after"))])
            self.assertEqual(await asyncio.wait_for(ws2.recv(), 15), "before")
            self.assertEqual(await recv_json(ws2), {"message": "after"})
            for ws in (ws1, builtin):
                self.assertEqual(await recv_json(ws), {"message": "after"})
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 3)

            # 4. another socket's group_discard ahead in the batch: the discarded socket does not get it
            await w.batch(gid, [w.entry(S1, "switchboard.group_discard", group="chat_pop"),
                                w.entry(S2, "switchboard.group_send", group="chat_pop", message=chat("not S1"))])
            for ws in (ws2, builtin):
                self.assertEqual(await recv_json(ws), {"message": "not S1"})
            await self.settled(gw)
            await w.batch(gid, [w.entry(S1, "websocket.send", text="marker")])
            self.assertEqual(await asyncio.wait_for(ws1.recv(), 15), "marker", "S1 got nothing of chat_pop after leaving")

            # 5. a group_send naming another worker than the socket's: left to the gateway (which drops it)
            await w.batch(gid, [{"type": "switchboard.group_send", "group": "chat_pop", "socket": S2,
                                 "worker": "specific.other!w", "seq": w.seq[S2] + 1, "message": chat("spoofed")}])
            await w.batch(gid, [w.entry(S2, "websocket.send", text="marker")])
            self.assertEqual(await asyncio.wait_for(ws2.recv(), 15), "marker", "the spoofed send reached nobody")
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 4)

            # 6. one socket's group_send left to the door (to a group it is not in), then one layerd
            # could apply: the second waits behind the first, so a member of both has them in order
            await w.batch(gid, [w.entry(S2, "switchboard.group_add", group="chat_both"),
                                w.entry(S2, "switchboard.group_add", group="chat_new")])
            await w.batch(gid, [w.entry(S2, "websocket.send", text="joined")])
            self.assertEqual(await asyncio.wait_for(ws2.recv(), 15), "joined")
            await self.settled(gw)
            left = self.lm("worker_group_sends_left_total")
            for i in range(5):
                await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="chat_both", message=chat(f"first {i}")),
                                    w.entry(S1, "switchboard.group_send", group="chat_new", message=chat(f"second {i}"))])
                self.assertEqual(await recv_json(ws2), {"message": f"first {i}"})
                self.assertEqual(await recv_json(ws2), {"message": f"second {i}"})
                self.assertEqual(await recv_json(ws1), {"message": f"second {i}"})
            self.assertEqual(self.lm("worker_group_sends_left_total"), left + 10)

            # 7. a group_send sent alone to S (as switchboard_django sends one too big for a batch),
            # then one in a batch: the batched one waits for the lone one, which the door applies
            # (layerd marks S when it pops the lone one: popped_sends::unbatched)
            # (both written in one MULTI, so that layerd pops them together)
            applied7 = self.lm("worker_group_sends_applied_total")
            C = f"specific.{gid}!ctl"
            for i in range(5):
                alone = w.entry(S1, "switchboard.group_send", group="chat_new", message=chat(f"alone {i}"))
                del alone["socket"]
                batched = {"type": "switchboard.batch", "worker": w.W, "messages": [
                    w.entry(S1, "switchboard.group_send", group="chat_new", message=chat(f"batched {i}"))]}
                layer = w.layer
                async with layer.connection(layer.consistent_hash(C)).pipeline(transaction=True) as pipe:
                    now = time.time()
                    for n, (channel, m) in enumerate(((S1, alone), (C, batched))):
                        pipe.zadd(layer.prefix + layer.non_local_name(channel),
                                  {layer.serialize({**m, "__asgi_channel__": channel}): now + n * 1e-6})
                    await pipe.execute()
                for ws in (ws1, ws2):
                    self.assertEqual(await recv_json(ws), {"message": f"alone {i}"})
                    self.assertEqual(await recv_json(ws), {"message": f"batched {i}"})
                await self.settled(gw)
            self.assertEqual(self.lm("worker_group_sends_applied_total"), applied7, "each batched one was left")
            for ws in (ws1, ws2, builtin):
                await ws.close()
            w.beating.cancel()
        arun(body(), 90)
        self.assertGreaterEqual(self.gm(gw, 'worker_dropped_total{reason="wrong_worker"}'), 1)
        self.assertEqual(self.gm(gw, "worker_group_sends_by_layerd_ahead_total"), 0)

    def test_a_restarted_layerd_applies_again_once_the_gateway_has_answered_it(self):
        # The layerd is killed and another starts on its endpoint: the
        # gateway's HELLO starts it afresh, so group_sends go through the
        # door until the first BATCH_DONE on the new link, then are applied
        # there again; each reaches each member once.
        c = self.cluster()
        gw = c.gateways[0]
        gid = run_id(gw)

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            tasks, (S1, S2) = await two_connects(w, gw, "again")
            await w.batch(gid, [w.entry(S, t, **f) for S in (S1, S2) for t, f in (
                ("switchboard.group_add", {"group": "chat_again"}),
                ("websocket.accept", {"subprotocol": None, "switchboard": {"render": {}}}))])
            socks = [await asyncio.wait_for(t, 20) for t in tasks]
            await await_until(lambda: self.lm("worker_members") == 2, 10, "layerd knows both sockets' worker")
            await self.settled(gw)
            async def both_get(m):
                # one event per socket (a batching worker's sockets may share one naming both)
                names = []
                while len(names) < 2:
                    ev = await w.recv_type("switchboard.event")
                    self.assertEqual(ev["event"], chat(m))
                    names += ev.get("sockets") or [ev["socket"]]
                self.assertEqual(sorted(names), sorted([S1, S2]))

            await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="chat_again", message=chat("before"))])
            await both_get("before")
            self.assertEqual(self.lm("worker_group_sends_applied_total"), 1)

            old = c.layerds[0]
            old.kill()
            self.mport = free_port()
            new = self.start_layerd(c.redis.url, id="layerd0b", endpoint=old.endpoint,
                                    extra_args=["--metrics-listen", f"127.0.0.1:{self.mport}"])
            await await_until(lambda: f"gateway joined gateway={gid} sole=true" in new.log_text(), 20,
                              "the gateway says HELLO to the new layerd")
            await await_until(lambda: self.lm("worker_members") == 2, 20, "the SYNC gave it both sockets' worker")
            self.dones_before = self.gm(gw, "batch_dones_total")
            got = []
            for i in range(6):
                await w.batch(gid, [w.entry(S1, "switchboard.group_send", group="chat_again", message=chat(f"after {i}"))])
                await both_get(f"after {i}")
                got.append(self.lm("worker_group_sends_applied_total"))
                await self.settled(gw)
            self.assertEqual(got[0], 0, "the first after the restart went through the door")
            self.assertGreaterEqual(got[-1], 1, "later ones were applied by the new layerd")
            await asyncio.sleep(0.5)
            self.assertEqual([t for t in w.inbox_types(c.redis) if t != "switchboard.alive"], [], "nothing twice")
            for ws in socks:
                await ws.close()
            w.beating.cancel()
        arun(body(), 120)

    def test_with_two_layerds_the_gateway_is_not_sole_and_its_door_sends(self):
        c = self.cluster(layerds=2)
        gw = c.gateways[0]
        gid = run_id(gw)
        for ld in c.layerds:
            self.assertIn(f"gateway joined gateway={gid} sole=false", ld.log_text())

        async def body():
            w = await Worker(self, self.redis_port).start()
            w.keep_alive(gid)
            ws, S, _ = await handshake(w, gw, "/ws/app/pop/a/", render=RENDER)
            await w.batch(gid, [w.entry(S, "switchboard.group_add", group="chat_two")])
            for i in range(5):
                await w.batch(gid, [w.entry(S, "switchboard.group_send", group="chat_two", message=chat(f"m{i}"))])
                self.assertEqual(await recv_json(ws), {"message": f"m{i}"})
            await ws.close()
            w.beating.cancel()
        arun(body(), 60)
        self.assertEqual(self.gm(gw, "worker_group_sends_by_layerd_total"), 0)
        self.assertEqual(self.gm(gw, "batch_dones_total"), 0)


class PoppedSendsGatewaySide(ProcessTestCase):
    """The gateway against a layerd of 1.6 played by the test."""

    def test_a_deliver_with_a_serial_is_answered_with_batch_done_and_applied_entries_are_not_sent(self):
        fake = FakeLayerd(6)
        fake.start()
        self.addCleanup(fake.stop)
        gw = self.start_gateway([fake.endpoint], extra_args=ROUTES, id="gwa")
        W = "specific.fakeworker!w1"

        def got(kind):
            return [b for k, b in list(fake.got) if k == kind]

        async def body():
            task = asyncio.ensure_future(open_ws(gw, "/ws/app/lobby/a/"))
            connect = None
            for _ in range(200):
                sends = [b for b in got(FakeLayerd.SEND) if b[0] == "chat"]
                if sends:
                    connect = msgpack.unpackb(sends[0][1], raw=False)
                    break
                await asyncio.sleep(0.05)
            self.assertIsNotNone(connect, "the gateway sent the connect")
            hello = got(FakeLayerd.HELLO)[0]
            self.assertEqual(hello[4:], [True], "one layerd endpoint: sole")
            S = connect["socket"]
            conn = S.rsplit("!", 1)[1]

            def entry(seq, type, **fields):
                return {"type": type, "socket": S, "worker": W, "seq": seq, **fields}

            def deliver(messages, applied, serial):
                batch = {"type": "switchboard.batch", "worker": W, "messages": messages}
                fake.outgoing.put((FakeLayerd.DELIVER, [["ctl"], msgpack.packb(batch, use_bin_type=True), applied, serial]))

            # entry 2 applied by "layerd"; entry 3 is a send, which an applied index does not stop
            deliver([entry(1, "websocket.accept", subprotocol=None, switchboard={"render": RENDER}),
                     entry(2, "switchboard.group_add", group="room"),
                     entry(3, "switchboard.group_send", group="room", message=chat("applied")),
                     entry(4, "websocket.send", text="sent")], [2, 3], 1)
            ws = await asyncio.wait_for(task, 20)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "sent")
            await await_until(lambda: got(BATCH_DONE), 10, "BATCH_DONE for serial 1")
            self.assertEqual(got(BATCH_DONE)[0], [1, []])
            self.assertEqual(got(GROUP_SEND), [], "the applied group_send is not sent again")
            # seq 6 ahead of 5: the socket waits, and BATCH_DONE says so
            deliver([entry(6, "switchboard.group_send", group="room", message=chat("late"))], [], 2)
            await await_until(lambda: len(got(BATCH_DONE)) == 2, 10, "BATCH_DONE for serial 2")
            self.assertEqual(got(BATCH_DONE)[1], [2, [conn]])
            self.assertEqual(got(GROUP_SEND), [])
            # seq 5 fills the gap: the door applies 5 then 6 (its group_send goes out), nothing waits
            deliver([entry(5, "websocket.send", text="five")], [], 3)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "five")
            await await_until(lambda: len(got(BATCH_DONE)) == 3, 10, "BATCH_DONE for serial 3")
            self.assertEqual(got(BATCH_DONE)[2], [3, []])
            await await_until(lambda: got(GROUP_SEND), 10, "the door sends seq 6's group_send")
            sent = got(GROUP_SEND)
            self.assertEqual(len(sent), 1)
            self.assertEqual(sent[0][0], "room")
            self.assertEqual(msgpack.unpackb(sent[0][1], raw=False), chat("late"))
            # a DELIVER without a serial is not answered
            deliver([entry(7, "websocket.send", text="seven")], [], 0)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "seven")
            await asyncio.sleep(0.3)
            self.assertEqual(len(got(BATCH_DONE)), 3)
            await ws.close()
        arun(body(), 60)
        m = scrape_metrics(gw.port)
        self.assertEqual(m["switchboard_gateway_worker_group_sends_by_layerd_total"], 1)
        self.assertEqual(m["switchboard_gateway_batch_dones_total"], 3)


class PoppedSendsHostilePeer(ProcessTestCase):
    """A ZeroMQ peer that says HELLO as a sole gateway and lies in BATCH_DONE."""

    def test_a_batch_done_never_asked_for_is_ignored_and_an_oversized_one_refused(self):
        c = self.start_cluster(layerds=1, gateways=1)
        layerd = c.layerds[0]
        ctx = zmq.Context()
        self.addCleanup(ctx.term)
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        gid = "fake.0123456789abcdef"
        s.setsockopt(zmq.IDENTITY, gid.encode())
        s.connect(layerd.endpoint)
        self.addCleanup(s.close, 0)

        def send(kind, body):
            s.send_multipart([bytes([kind]), msgpack.packb(body, use_bin_type=True)])

        def answer(kind):
            for _ in range(20):
                self.assertTrue(s.poll(5000), f"no answer of kind {kind}")
                frames = s.recv_multipart()
                if frames[0] == bytes([kind]):
                    return msgpack.unpackb(frames[1], raw=False)
            self.fail(f"no kind {kind} answer")

        send(FakeLayerd.HELLO, [1, 6, gid, 0, True])
        answer(FakeLayerd.WELCOME)
        self.assertIn(f"gateway joined gateway={gid} sole=true", layerd.log_text())
        send(BATCH_DONE, [99, ["c1"]])
        arun(await_until(lambda: "batch_done ignored gateway=" + gid in layerd.log_text(), 10,
                         "the unasked BATCH_DONE logged"), 15)
        send(BATCH_DONE, [1, [f"c{i}" for i in range(10001)]])
        err = answer(9)  # ERROR
        self.assertEqual(err[1], "bad_message", err)
        self.assertTrue(layerd.alive())
        # the real gateway still chats
        gw = c.gateways[0]

        async def body():
            a = await open_ws(gw, "/ws/chat/hostile/")
            b = await open_ws(gw, "/ws/chat/hostile/")
            await await_until(lambda: len(c.redis.cmd("ZRANGE", "asgi:group:chat_hostile", 0, -1)) == 2, 10, "joined")
            await a.send(json.dumps({"message": "fine"}))
            for ws in (a, b):
                self.assertEqual((await recv_json(ws))["message"], "fine")
        arun(body(), 30)
