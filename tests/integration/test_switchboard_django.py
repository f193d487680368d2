# test_switchboard_django.py — switchboard_django's worker, with the test
# playing the gateway.
#
# Real `python3 manage.py runworker ...` processes serve tests/django_app's
# consumers (chat/sb_consumers.py) with Debian's Django, Channels and
# channels_redis on a real redis-server; the test is the gateway of
# docs/protocol.md, Part 3 (harness_django.FakeGateway, over channels_redis
# too): it sends switchboard.connect to the worker channel, reads the
# worker's replies from its inbox `specific.<run id>!`, and sends the
# socket's messages to the worker's process channel W. Checked: accept with
# the RENDER, group ops as switchboard.* messages, seq, events dispatched
# to handlers, heartbeats on !ctl, anonymous refused / a real session
# accepted, per-socket state, a consumer exception closing only its socket
# (1011), gateway liveness (silent gateway, alive lists), two worker
# processes, two Redis hosts, symmetric encryption, the worker's own inbox
# reads and writes (capacity, expiry, many read at once, in order), bad
# input; the outbox's bound (send() waits past 10,000 messages, nothing
# lost) and a flush the gateway's full inbox refuses (counted, the next
# one goes).
import asyncio
import json
import re
import subprocess
import time
import unittest

import websockets

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

from harness import ProcessTestCase, arun, await_until, wait_until
from harness_django import (DJANGO_APP, PY, FakeGateway, Runworker, django_env, login_cookie,
                            non_local, shard, ws_scope)
from test_django_daphne import Daphne

TEST_TIMEOUT = 90.0


class WorkerTestCase(ProcessTestCase):
    def start_workers(self, channels, n=1, redis_count=1, keys=None, db=False):
        self.redises = [self.start_redis() for _ in range(redis_count)]
        self.ports = [r.port for r in self.redises]
        self.keys = keys
        self.env = django_env(self.ports, db_dir=self.workdir if db else None, keys=keys)
        self.cookie = login_cookie(self.env) if db else None
        self.workers = [self.own(Runworker(channels, self.env, self.workdir, name=f"worker{i}")).start()
                        for i in range(n)]

    def gateway(self, run_id="fakegw.0123456789abcdef", batch=False):
        return FakeGateway(self.ports, run_id=run_id, keys=self.keys, batch=batch)

    async def open(self, g, route, sock=None, expect_group=False, **scope_kw):
        """Connects one socket; returns (S, W, accept message)."""
        sock = sock or g.socket()
        await g.connect(route, sock, ws_scope(**scope_kw))
        m = await g.next(sock, 30)
        if expect_group:
            self.assertEqual(m["type"], "switchboard.group_add")
            m = await g.next(sock)
        self.assertEqual(m["type"], "websocket.accept", m)
        return sock, m["worker"], m


class Chat(WorkerTestCase):
    def test_1_tutorial_consumer_group_ops_seq_events_heartbeats(self):
        self.start_workers(["chat"])

        async def body():
            g = self.gateway()
            try:
                s = g.socket()
                await g.connect("chat", s, ws_scope(kwargs={"room_name": "lobby"}))
                add = await g.next(s, 30)
                self.assertEqual((add["type"], add["group"], add["seq"]),
                                 ("switchboard.group_add", "chat_lobby", 1))
                w = add["worker"]
                self.assertRegex(w, r"^specific\.[0-9a-f]+![0-9a-f]+$")
                acc = await g.next(s)
                self.assertEqual(acc, {"type": "websocket.accept", "subprotocol": None, "worker": w,
                                       "seq": 2, "switchboard": {"render": {}}})
                # a browser message: the consumer's group_send goes to the gateway
                await g.receive(w, s, json.dumps({"message": "hi"}))
                m = await g.next(s)
                self.assertEqual(m, {"type": "switchboard.group_send", "group": "chat_lobby",
                                     "message": {"type": "chat_message", "message": "hi"},
                                     "worker": w, "seq": 3})
                # a group event runs the handler
                await g.event(w, s, {"type": "chat.message", "message": "from the room"})
                m = await g.next(s)
                self.assertEqual(m, {"type": "websocket.send", "text": json.dumps({"message": "from the room"}),
                                     "worker": w, "seq": 4})
                for i in range(5):
                    await g.event(w, s, {"type": "chat_message", "message": f"n{i}"})
                seqs = [(await g.next(s))["seq"] for _ in range(5)]
                self.assertEqual(seqs, [5, 6, 7, 8, 9])
                # heartbeats on the gateway's control channel while it has sockets here
                hb = await g.next(g.ctl, 10)
                self.assertEqual(hb, {"type": "switchboard.worker_alive", "worker": w})
                # disconnect: the consumer ends; its group_discard needs no message (the
                # gateway drops its memberships itself) and heartbeats stop
                await g.disconnect(w, s, 1001)
                self.workers[0].wait_stat("disconnects", lambda n: n == 1)
                self.assertIsNone(await g.none_within(s, 2.0))
                while not g.queue(g.ctl).empty():
                    g.queue(g.ctl).get_nowait()
                self.assertIsNone(await g.none_within(g.ctl, 3.0), "heartbeats stop with no socket")
                st = self.workers[0].wait_stat("events", lambda n: n == 6)
                self.assertEqual((st["connects"], st["receives"]), (1, 1))
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_2_fast_path_render_in_accept(self):
        self.start_workers(["chatfast"])

        async def body():
            g = self.gateway()
            try:
                s, w, acc = await self.open(g, "chatfast", expect_group=True)
                self.assertEqual(acc["switchboard"], {"render": {"chat_message": ["message"]}})
                self.assertEqual(acc["seq"], 2)
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_3_bad_gateway_renders_fail_at_startup(self):
        """as_asgi checks gateway_renders, so asgi.py's import fails loudly."""
        cases = {
            "{'chat_mesage': ['message']}": "no such handler",
            "{'chat_message': 'message'}": "list of field names",
            "['chat_message']": "must be a dict",
            "{'chat_message': []}": "1 to 16",
            "{'chat.message': ['message']}": "not a handler name",
            "{'chat_message': ['f%d' % i for i in range(17)]}": "17 fields",
        }
        for renders, expect in cases.items():
            code = ("import django; django.setup()\n"
                    "from chat.sb_consumers import ChatConsumer\n"
                    f"class Bad(ChatConsumer):\n    gateway_renders = {renders}\n"
                    "Bad.as_asgi()\n")
            r = subprocess.run([PY, "-c", code], cwd=str(DJANGO_APP), env=django_env(6379),
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, renders)
            self.assertIn("ImproperlyConfigured", r.stderr, renders)
            self.assertIn(expect, r.stderr, renders)


class Auth(WorkerTestCase):
    def test_anonymous_refused_session_accepted(self):
        self.start_workers(["authchat", "state"], db=True)
        self.assertRegex(self.cookie, r"^sessionid=\w+$")

        async def body():
            g = self.gateway()
            try:
                anon = g.socket()
                await g.connect("authchat", anon, ws_scope())
                m = await g.next(anon, 30)
                self.assertEqual((m["type"], m["seq"]), ("websocket.close", 1), m)
                self.assertNotIn("code", m)  # close() without a code: the gateway answers 403
                self.assertIsNone(await g.none_within(anon, 1.0))
                s, w, _ = await self.open(g, "authchat", expect_group=True, cookie=self.cookie)
                # the user as AuthMiddlewareStack resolves it, from the database session
                st, ws, _ = await self.open(g, "state", cookie="theme=dark; " + self.cookie)
                await g.receive(ws, st, "who")
                rep = json.loads((await g.next(st))["text"])
                self.assertEqual((rep["user"], rep["cookies"]), ("alice", ["sessionid", "theme"]))
                bad = g.socket()
                await self.open(g, "state", sock=bad, cookie="sessionid=forged0000000000000000000000000")
                await g.receive(ws, bad, "who")
                self.assertIsNone(json.loads((await g.next(bad))["text"])["user"])
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)


class State(WorkerTestCase):
    def test_per_socket_state_and_scope(self):
        self.start_workers(["state"])

        async def body():
            g = self.gateway()
            try:
                a, w, _ = await self.open(g, "state", path="/ws/state/r1/", kwargs={"room_name": "r1"},
                                          query=b"x=1&y=%20")
                b, w2, _ = await self.open(g, "state", path="/ws/state/r2/", kwargs={"room_name": "r2"})
                self.assertEqual(w, w2)
                for i in range(3):
                    await g.receive(w, a, f"a{i}")
                await g.to_worker(w, {"type": "websocket.receive", "socket": b, "bytes": b"\x00\xff"})
                got_a = [json.loads((await g.next(a))["text"]) for _ in range(3)]
                got_b = json.loads((await g.next(b))["text"])
                self.assertEqual([r["count"] for r in got_a], [1, 2, 3])
                self.assertEqual([r["text"] for r in got_a], ["a0", "a1", "a2"])
                self.assertEqual((got_b["count"], got_b["bytes"], got_b["text"]), (1, "00ff", None))
                r = got_a[0]
                self.assertEqual((r["path"], r["query"], r["kwargs"], r["client"], r["channel"], r["user"]),
                                 ("/ws/state/r1/", "x=1&y=%20", {"room_name": "r1"}, ["127.0.0.1", 40000],
                                  a, None))
                await g.event(w, b, {"type": "state.ping", "n": 7})
                self.assertEqual(json.loads((await g.next(b))["text"]), {"ping": 7, "count": 1})
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_consumer_exception_closes_only_its_socket(self):
        self.start_workers(["boom"])

        async def body():
            g = self.gateway()
            try:
                a, w, _ = await self.open(g, "boom")
                b, _, _ = await self.open(g, "boom")
                await g.receive(w, a, "boom")
                m = await g.next(a)
                self.assertEqual((m["type"], m["code"], m["seq"]), ("websocket.close", 1011, 2))
                await g.receive(w, b, "still here")
                self.assertEqual(json.loads((await g.next(b))["text"])["count"], 1)
                # the consumer of a has ended: what the gateway still sends for it (a
                # frame in flight, the disconnect that follows the close) is expected,
                # counted apart, not delivered, not warned about
                await g.receive(w, a, "late")
                await g.disconnect(w, a, 1011)
                st = self.workers[0].wait_stat("after_consumer_end", lambda n: n == 2)
                self.assertNotIn("dropped_unknown_socket", st)
                self.assertEqual(st["consumer_errors"], 1)
                self.assertIn("RuntimeError: boom, as asked", self.workers[0].log_text())
                self.assertIn("Traceback", self.workers[0].log_text())
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_two_worker_processes_share_sockets_each_keeps_its_own(self):
        self.start_workers(["state"], n=2)

        async def body():
            g = self.gateway()
            try:
                # connects one at a time: each process, back in its blocking pop,
                # queues behind the other, so both take sockets once both run
                socks = []
                deadline = asyncio.get_running_loop().time() + 40
                while len({w for _, w, _ in socks}) < 2 and asyncio.get_running_loop().time() < deadline:
                    socks.append(await self.open(g, "state"))
                    await asyncio.sleep(0.1)  # the second process may still be starting
                self.assertEqual(len({w for _, w, _ in socks}), 2, "both processes took sockets")
                for round_ in range(2):
                    for s, w, _ in socks:
                        await g.receive(w, s, f"r{round_}")
                for s, w, _ in socks:
                    counts = [json.loads((await g.next(s))["text"])["count"] for _ in range(2)]
                    self.assertEqual(counts, [1, 2])
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)


class Liveness(WorkerTestCase):
    def test_silent_gateway_and_alive_lists_end_sockets(self):
        """Gateway A keeps sending alive lists that name only a1; gateway B is
        silent. After 10 s a2 is ended (not listed); after 15 s B's socket."""
        self.start_workers(["state"])

        async def body():
            ga = self.gateway("gwa.00000000000000aa")
            gb = self.gateway("gwb.00000000000000bb")
            try:
                a1, w, _ = await self.open(ga, "state")
                a2, _, _ = await self.open(ga, "state")
                b1, _, _ = await self.open(gb, "state")
                conn_a1 = a1.split("!")[1]
                await gb.next(gb.ctl, 10)  # the worker heartbeats gateway B too
                stats = self.workers[0].stats

                async def listed_until(pred, what, timeout):
                    async def tick():
                        await ga.alive(w, [conn_a1])
                        return pred()
                    await await_until(tick, timeout, what, interval=1.0)
                await listed_until(lambda: stats().get("sockets_ended_not_listed", 0) == 1,
                                   "a2 ended (not listed)", 30)
                await listed_until(lambda: stats().get("sockets_ended_gateway_silent", 0) == 1,
                                   "b1 ended (gateway B silent)", 30)
                self.assertEqual(stats().get("gateway_timeouts"), 1)
                # a1 lives on; a2 and b1 are gone
                await ga.receive(w, a1, "x")
                self.assertEqual(json.loads((await ga.next(a1))["text"])["count"], 1)
                await ga.receive(w, a2, "x")
                await gb.receive(w, b1, "x")
                self.assertIsNone(await ga.none_within(a2, 1.0))
                self.assertIsNone(await gb.none_within(b1, 0.5))
                self.workers[0].wait_stat("dropped_unknown_socket", lambda n: n == 2)
                self.assertIn("gateway gwb.00000000000000bb silent", self.workers[0].log_text())
            finally:
                await ga.close()
                await gb.close()
        arun(body(), TEST_TIMEOUT)


class Layers(WorkerTestCase):
    async def chat_flow(self):
        g = self.gateway()
        try:
            for room in ("lobby", "kitchen", "r3", "zz9"):
                s, w, _ = await self.open(g, "chat", expect_group=True, kwargs={"room_name": room})
                await g.receive(w, s, json.dumps({"message": room}))
                m = await g.next(s)
                self.assertEqual((m["type"], m["group"], m["message"]["message"]),
                                 ("switchboard.group_send", f"chat_{room}", room))
                await g.event(w, s, {"type": "chat.message", "message": "back"})
                self.assertEqual((await g.next(s))["text"], json.dumps({"message": "back"}))
                await g.next(g.ctl, 10)
            return w
        finally:
            await g.close()

    def test_two_redis_hosts(self):
        self.start_workers(["chat"], redis_count=2)
        w = arun(self.chat_flow(), TEST_TIMEOUT)
        # the worker's inbox lives on the host its process name hashes to
        self.assertIn(shard(non_local(w), 2), (0, 1))

    def test_symmetric_encryption(self):
        keys = ["first-key-for-tests", "older-key"]
        self.start_workers(["chat", "state"], keys=keys)
        arun(self.chat_flow(), TEST_TIMEOUT)

        async def reply_stays():
            g = self.gateway("fakegw.00000000000000e2")  # sockets of its own
            s, w, _ = await self.open(g, "state")
            await g.close()  # nobody reads the gateway's inbox now
            layer = RedisChannelLayer(hosts=[("127.0.0.1", self.ports[0])], symmetric_encryption_keys=keys)
            try:
                await layer.send(w, {"type": "websocket.receive", "socket": s, "text": "x"})
            finally:
                await layer.close_pools()
            return g.run_id
        run_id = arun(reply_stays(), TEST_TIMEOUT)
        # what the worker wrote into the gateway's inbox is a Fernet token
        r = self.redises[0]
        inbox = f"asgispecific.{run_id}!"
        wait_until(lambda: r.cmd("ZCARD", inbox) >= 1, 15, "the worker's reply in the inbox")
        for member in r.cmd("ZRANGE", inbox, 0, -1):
            self.assertTrue(member[12:].startswith(b"gAAAA"), member[:40])


class UnderDaphne(WorkerTestCase):
    def test_the_same_class_under_daphne_is_channels_own(self):
        """switchboard_django's ChatConsumer served by daphne (ws/sbchat/):
        no dispatcher, no switchboard.* messages, the tutorial chat as is."""
        redis = self.start_redis()
        daphne = self.own(Daphne(redis.port, self.workdir)).start()

        async def body():
            url = f"ws://127.0.0.1:{daphne.port}/ws/sbchat/lobby/"
            a = await websockets.connect(url, open_timeout=10, ping_interval=None, close_timeout=2)
            b = await websockets.connect(url, open_timeout=10, ping_interval=None, close_timeout=2)
            try:
                members = lambda: redis.cmd("ZRANGE", "asgi:group:chat_lobby", 0, -1)
                await await_until(lambda: len(members()) == 2, 10, "two members")
                self.assertTrue(all(re.match(rb"^specific\.[0-9a-f]+![0-9a-f]+$", m) for m in members()))
                await a.send(json.dumps({"message": "hi"}))
                for ws in (a, b):
                    self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 10)), {"message": "hi"})
            finally:
                await a.close()
                await b.close()
        arun(body(), TEST_TIMEOUT)


class Batches(WorkerTestCase):
    """switchboard.batch both ways (docs/protocol.md, Part 3, Batches)."""

    def test_outbox_batches_for_a_gateway_that_takes_them_and_events_name_sockets(self):
        self.start_workers(["chat"])

        async def body():
            g = self.gateway(batch=True)
            old = self.gateway(run_id="oldgw.0123456789abcdef")  # a gateway without batches
            try:
                socks = [await self.open(g, "chat", expect_group=True) for _ in range(3)]
                w = socks[0][1]
                names = [s for s, _, _ in socks]
                # one event for three sockets, 20 times, in one batch: each socket's
                # handler runs 20 times, its sends in seq order, collected into batches
                before = len(g.batches)
                await g.batch_to(w, [{"type": "switchboard.event", "sockets": names,
                                      "event": {"type": "chat_message", "message": f"m{i}"}}
                                     for i in range(20)])
                for s in names:
                    got = [await g.next(s) for _ in range(20)]
                    self.assertEqual([m["seq"] for m in got], list(range(3, 23)))
                    self.assertEqual([json.loads(m["text"])["message"] for m in got],
                                     [f"m{i}" for i in range(20)])
                sizes = g.batches[before:]
                self.assertEqual(sum(sizes), 60)
                self.assertGreater(max(sizes), 1, "messages collected while a flush was in flight")
                self.assertEqual(g.direct, set(), "nothing sent to a socket's channel alone")
                # a gateway whose connect does not say batch gets the old form
                s_old, w_old, acc = await self.open(old, "chat", expect_group=True)
                self.assertEqual(acc["seq"], 2)
                self.assertEqual(old.direct, {s_old})
                st = self.workers[0].wait_stat("events", lambda n: n == 60)
                self.assertEqual(st["batches_in"], 1)
                self.assertGreaterEqual(st["batched"], 60 + 6)
            finally:
                await g.close()
                await old.close()
        arun(body(), TEST_TIMEOUT)

    def test_a_bad_entry_is_dropped_the_rest_applied_and_an_oversize_batch_refused(self):
        self.start_workers(["state"])

        async def body():
            g = self.gateway(batch=True)
            try:
                s, w, _ = await self.open(g, "state")
                await g.batch_to(w, [
                    {"type": "websocket.receive", "socket": s, "text": "a"},
                    "not a map",
                    {"type": "switchboard.batch", "messages": []},   # no batch in a batch
                    {"type": "switchboard.event", "sockets": "x", "event": {"type": "state.ping"}},
                    {"type": "switchboard.event", "sockets": [s, 5, g.socket()],
                     "event": {"type": "state.ping", "n": 7}},
                    {"type": "websocket.receive", "socket": s, "text": "b"},
                ])
                got = [json.loads((await g.next(s))["text"]) for _ in range(3)]
                self.assertEqual([m.get("count") for m in got], [1, 1, 2])
                self.assertEqual(got[1].get("ping"), 7)
                # over 1,000 messages: refused as a whole, nothing of it applied
                await g.batch_to(w, [{"type": "websocket.receive", "socket": s, "text": "x"}] * 1001)
                await g.batch_to(w, [{"type": "websocket.receive", "socket": s, "text": "c"}])
                self.assertEqual(json.loads((await g.next(s))["text"])["count"], 3)
                st = self.workers[0].wait_stat("dropped_bad_batch", lambda n: n == 1)
                self.assertEqual(st["dropped_malformed"], 3)  # not a map, nested batch, "x"
                self.assertEqual(st["dropped_unknown_socket"], 2)  # 5 and a socket never connected
                self.assertEqual(st["receives"], 3)
                self.assertTrue(self.workers[0].alive())
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)


    def test_past_10000_messages_in_the_outbox_send_waits_and_nothing_is_lost(self):
        # A consumer that sends 12,000 frames in one go fills its gateway's
        # outbox (10,000 messages): send() then waits for the flush
        # (backpressure), and the gateway gets all 12,000 in seq order
        # (docs/protocol.md, Part 3, Batches).
        self.start_workers(["flood"])
        n = 12000

        async def body():
            g = self.gateway(batch=True)
            try:
                s, w, _ = await self.open(g, "flood")
                await g.receive(w, s, f"flood {n}")
                got = [await g.next(s, 30) for _ in range(n)]
                self.assertEqual([m["seq"] for m in got], list(range(2, n + 2)))
                self.assertEqual([m["text"] for m in got], [str(i) for i in range(n)])
                st = self.workers[0].wait_stat("outbox_full_waits", lambda k: k >= 1)
                self.assertEqual({k: v for k, v in st.items() if k.startswith("dropped_")}, {})
                self.assertLessEqual(max(g.batches), 1000)
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_a_flush_the_gateways_full_inbox_refuses_is_counted_and_the_next_one_goes(self):
        # The gateway's inbox at capacity (nobody drains it: its layerds are
        # away): the worker's batch is retried for 2 s, then dropped,
        # counted and logged; its seq is gone (a real gateway closes the
        # socket with 1011 on the gap), and the outbox goes on with the next
        # message once the inbox has room (docs/django.md, Logs and counters).
        self.start_workers(["state"])

        async def body():
            g = self.gateway(batch=True)
            filler = RedisChannelLayer(hosts=[("127.0.0.1", p) for p in self.ports])
            try:
                s, w, _ = await self.open(g, "state")
                await g.pause()
                full = False
                for _ in range(1000):  # channels_redis' default capacity is 100
                    try:
                        await filler.send(g.ctl, {"type": "filler"})
                    except ChannelFull:
                        full = True
                        break
                self.assertTrue(full, "the gateway's inbox filled")
                await g.receive(w, s, "lost")
                self.workers[0].wait_stat("dropped_batch_inbox_full", lambda k: k >= 1)
                self.assertIn("the gateway's inbox stayed full", self.workers[0].log_text())
                g.resume()
                await g.receive(w, s, "after")
                m = await g.next(s, 30)
                self.assertEqual((m["seq"], json.loads(m["text"])["count"], json.loads(m["text"])["text"]),
                                 (3, 2, "after"), "seq 2 was the lost batch's")
            finally:
                await filler.close_pools()
                await g.close()
        arun(body(), TEST_TIMEOUT)


class Inbox(WorkerTestCase):
    """The worker writes to a gateway's inbox in one EVAL and reads W itself
    (switchboard_django/inbox.py, docs/protocol.md, Part 3, Worker reads and
    writes): channels_redis' expiry and capacity still hold, and messages
    that wait in W are read many at once, in order."""

    def test_expiry_capacity_and_many_waiting_messages(self):
        self.start_workers(["state"])
        r = self.redises[0]
        plain = RedisChannelLayer(hosts=[("127.0.0.1", self.ports[0])])  # to serialize as channels_redis does

        async def body():
            g = self.gateway("fakegw.00000000000000e3")
            s, w, _ = await self.open(g, "state")
            await g.close()  # nobody reads the gateway's inbox now: the test looks into it
            inbox = f"asgispecific.{g.run_id}!"
            r.cmd("DEL", inbox)

            def replies():
                # the socket's replies (the worker's heartbeats to !ctl land here too)
                out = [plain.deserialize(m) for m in r.cmd("ZRANGE", inbox, 0, -1)]
                return [m for m in out if m.get("type") == "websocket.send"]

            def to_w(texts):
                # straight into W's inbox, one ZADD, so they all wait there at once
                now = time.time()
                args = []
                for i, text in enumerate(texts):
                    args += [repr(now + i * 1e-6), plain.serialize(
                        {"type": "websocket.receive", "socket": s, "text": text, "__asgi_channel__": w})]
                r.cmd("ZADD", "asgi" + non_local(w), *args)

            # 100 expired members (channels_redis' expiry is 60 s): purged by the write
            old = time.time() - 300
            r.cmd("ZADD", inbox, *[x for i in range(100) for x in (repr(old + i * 0.1), f"old{i:03d}")])
            to_w(["one"])
            cut = time.time() - 10  # the expired scores are below it, the reply's above
            await await_until(lambda: r.cmd("ZCOUNT", inbox, cut, "+inf") >= 1, 15, "the reply")
            self.assertEqual(r.cmd("ZCOUNT", inbox, "-inf", cut), 0, "the expired members purged")
            self.assertEqual([json.loads(m["text"])["count"] for m in replies()], [1])
            # at capacity (100) with live members: the reply is refused, retried, dropped and counted
            r.cmd("DEL", inbox)
            now = time.time()
            r.cmd("ZADD", inbox, *[x for i in range(100) for x in (repr(now + i * 1e-3), f"live{i:03d}")])
            to_w(["two"])
            self.workers[0].wait_stat("dropped_socket_inbox_full", lambda n: n == 1)
            self.assertEqual(r.cmd("ZCARD", inbox), 100)
            self.assertIn("stayed full", self.workers[0].log_text())
            # room again: 30 messages waiting in W at once all reach the consumer, in order
            r.cmd("DEL", inbox)
            to_w([f"m{i}" for i in range(30)])
            await await_until(lambda: len(replies()) == 30, 15, "30 replies")
            got = sorted(replies(), key=lambda m: m["seq"])
            self.assertEqual([m["seq"] for m in got], list(range(4, 34)))
            self.assertEqual([json.loads(m["text"])["text"] for m in got], [f"m{i}" for i in range(30)])
            self.assertEqual([json.loads(m["text"])["count"] for m in got], list(range(3, 33)))
            self.assertEqual(r.cmd("EXISTS", "asgi" + non_local(w) + "$inflight"), 0)
        arun(body(), TEST_TIMEOUT)


class BadInput(WorkerTestCase):
    def test_bad_messages_are_counted_and_the_worker_goes_on(self):
        self.start_workers(["state"])

        async def body():
            g = self.gateway()
            try:
                s, w, _ = await self.open(g, "state")
                # on the worker channel: not a connect, a bad socket name, a bad scope
                await g.layer.send("state", {"type": "websocket.receive", "text": "x"})
                await g.layer.send("state", {"type": "switchboard.connect", "socket": "specific.x!ctl",
                                             "scope": ws_scope()})
                bad_scope = g.socket()
                await g.layer.send("state", {"type": "switchboard.connect", "socket": bad_scope,
                                             "scope": {"type": "websocket", "path": 7}})
                m = await g.next(bad_scope)
                self.assertEqual((m["type"], m["seq"]), ("websocket.close", 1))  # refused: 403
                huge_headers = g.socket()
                sc = ws_scope()
                sc["headers"] = [[b"x-a", b"b"]] * 5000
                await g.connect("state", huge_headers, sc)
                self.assertEqual((await g.next(huge_headers))["type"], "websocket.close")
                # on W: unknown type, unknown socket, receive without text, event without type,
                # a bad alive list, a disconnect without a code for nobody, undecodable bytes
                await g.to_worker(w, {"type": "switchboard.bogus", "socket": s})
                await g.to_worker(w, {"type": "websocket.receive", "socket": g.socket(), "text": "x"})
                await g.to_worker(w, {"type": "websocket.receive", "socket": s, "text": 5})
                await g.to_worker(w, {"type": "switchboard.event", "socket": s, "event": ["x"]})
                await g.to_worker(w, {"type": "switchboard.alive", "gateway": g.run_id, "sockets": "x"})
                await g.to_worker(w, {"type": "websocket.receive", "socket": 12})
                r = self.redises[0]
                r.cmd("ZADD", "asgi" + non_local(w), str(time.time()), b"0123456789ab\xc1\xc1not msgpack")
                # the socket still works, in order
                await g.receive(w, s, "after")
                self.assertEqual(json.loads((await g.next(s))["text"])["count"], 1)
                st = self.workers[0].wait_stat("dropped_malformed", lambda n: n >= 8)
                self.assertEqual(st["dropped_unknown_socket"], 2)
                self.assertEqual(st.get("dropped_undecodable"), 1)
                self.assertTrue(self.workers[0].alive())
                self.assertIn("dropped", self.workers[0].log_text())
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_a_consumer_that_falls_behind_is_closed_with_1013(self):
        """Messages waiting for one consumer are bounded (switchboard_max_queue,
        5 here): past it that socket is closed with 1013; the others go on."""
        self.start_workers(["slow"])

        async def body():
            g = self.gateway()
            try:
                s, w, _ = await self.open(g, "slow")
                other, _, _ = await self.open(g, "slow")
                await g.receive(w, s, "sleep")
                for i in range(20):
                    await g.receive(w, s, f"m{i}")
                m = await g.next(s)
                self.assertEqual((m["type"], m["code"]), ("websocket.close", 1013))
                await g.receive(w, other, "x")
                self.assertEqual(json.loads((await g.next(other))["text"])["count"], 1)
                st = self.workers[0].wait_stat("dropped_queue_full", lambda n: n >= 14)
                self.assertLessEqual(st["receives"], 1 + 6 + 1)
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_a_connect_delivered_twice_runs_one_consumer(self):
        """channels_redis may hand one connect to two processes reading NAME;
        the socket's claim in Redis lets only one run the consumer."""
        self.start_workers(["state"], n=2)

        async def body():
            g = self.gateway()
            try:
                # both processes read NAME once each has taken a socket
                taken = []
                deadline = asyncio.get_running_loop().time() + 40
                while len(set(taken)) < 2 and asyncio.get_running_loop().time() < deadline:
                    taken.append((await self.open(g, "state"))[1])
                    await asyncio.sleep(0.1)
                self.assertEqual(len(set(taken)), 2)
                s = g.socket()
                await g.connect("state", s, ws_scope())
                await g.connect("state", s, ws_scope())
                m = await g.next(s, 30)
                self.assertEqual((m["type"], m["seq"]), ("websocket.accept", 1))
                self.assertIsNone(await g.none_within(s, 3.0), "one consumer answers")
                # (channels_redis may deliver a copy more than once again)
                await await_until(lambda: sum(w.stats().get("dropped_duplicate_connect", 0)
                                              for w in self.workers) >= 1, 15, "the duplicate counted")
                await await_until(lambda: sum(w.stats().get("connects", 0) for w in self.workers)
                                  == len(taken) + 1, 15, "one connect per socket")
                self.assertEqual(self.redises[0].cmd("GET", f"asgi:switchboard:connect:{s}").decode(),
                                 m["worker"])
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)

    def test_duplicate_connect(self):
        self.start_workers(["state"])

        async def body():
            g = self.gateway()
            try:
                s, w, _ = await self.open(g, "state")
                await g.connect("state", s, ws_scope())  # the same socket again
                self.workers[0].wait_stat("dropped_duplicate_connect", lambda n: n == 1)
                await g.receive(w, s, "one")
                self.assertEqual(json.loads((await g.next(s))["text"])["count"], 1)
            finally:
                await g.close()
        arun(body(), TEST_TIMEOUT)


if __name__ == "__main__":
    unittest.main()
