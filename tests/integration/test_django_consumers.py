# test_django_consumers.py — the app's own consumers behind real gateways
# (issue 12, "Keep your consumers"), end to end.
#
# Real everything: redis-server, two layerds, two gateways with `django:NAME`
# routes (docs/protocol.md, Part 3), `python3 manage.py runworker ...`
# processes serving tests/django_app's consumers (chat/sb_consumers.py:
# the tutorial's ChatConsumer with only the import changed, and the test
# variants) through switchboard_django, and daphne serving the same app's
# ChatConsumer, all on one Redis. Browsers are the websockets library.
# Checked: the tutorial chat across two gateways and two worker processes
# with a built-in chat client and a daphne client in the same room; a
# session login accepted and an anonymous socket refused (403);
# per-socket state; a killed worker's sockets closed with 1012 while the
# others keep chatting; the fast path (a group_send to a room of N
# fast-path sockets reaches all N with no event at any worker); a worker
# channel nobody reads (503) and a consumer that raises (1011).
# DjangoConsumersTwoRedis and DjangoConsumersEncrypted (issue 12, item 5)
# run the tutorial chat in rooms on every host (built-in, daphne and
# django sockets; each message once, in order), a fast-path room reached
# by a Django group_send, and a Django send() to a socket's channel_name,
# with two redis-servers (both given to layerd, the workers and daphne in
# one order) and with symmetric_encryption_keys (layerd's
# --symmetric-encryption-key). With two hosts, a burst of 40 connects to
# worker processes that serve two routes each is accepted, connect() once
# per socket, the copies of each connect layerd wrote on the other host
# dropped by the claim, and every claim and copy left in Redis expiring.
import asyncio
import json
import signal
import unittest

import websockets
import websockets.exceptions
from channels_redis.core import RedisChannelLayer

from harness import (Cluster, ProcessTestCase, arun, await_until, free_port, group_key, handshake_status,
                     scrape_metrics, wait_until)
from harness_django import Runworker, django_env, login_cookie, shard
from test_django_daphne import Daphne

TEST_TIMEOUT = 120.0
WORKER_TIMEOUT_MS = 3000
CONNECT_TIMEOUT_MS = 3000
ROUTES = [
    "/ws/chat/<room_name>/ django:chat",
    "/ws/plain/<room_name>/ chat",
    "/ws/fast/<room_name>/ django:chatfast",
    "/ws/auth/<room_name>/ django:authchat",
    "/ws/state/<room_name>/ django:state",
    "/ws/boom/<room_name>/ django:boom",
    "/ws/nobody/<room_name>/ django:nobody",
]


class DjangoCluster(ProcessTestCase):
    """Redis, two layerds, two gateways with ROUTES, runworker processes
    and (optionally) daphne; the helpers the test classes share."""

    def start_all(self, worker_channels, workers=2, db=False, daphne=False, redis_hosts=1, keys=None,
                  layerds=2, layerd_metrics=False):
        """redis_hosts redis-servers (layerd, workers and daphne list them in
        the same order: docs/django.md, Several Redis hosts); keys are the
        app's symmetric_encryption_keys, given to layerd in the same order;
        layerd_metrics: each layerd serves /metrics on self.ld_metrics[i]."""
        self.redises = [self.start_redis() for _ in range(redis_hosts)]
        redis = self.redises[0]
        ld_args = [a for r in self.redises[1:] for a in ("--redis", r.url)]
        ld_args += [a for k in keys or () for a in ("--symmetric-encryption-key", k)]
        self.ld_metrics = [free_port() for _ in range(layerds)] if layerd_metrics else []
        lds = [self.start_layerd(redis.url, id=f"layerd{i}", extra_args=ld_args + (
                   ["--metrics-listen", f"127.0.0.1:{self.ld_metrics[i]}"] if layerd_metrics else []))
               for i in range(layerds)]
        args = []
        for r in ROUTES:
            args += ["--route", r]
        args += ["--worker-timeout-ms", str(WORKER_TIMEOUT_MS),
                 "--connect-timeout-ms", str(CONNECT_TIMEOUT_MS)]
        gws = [self.start_gateway([l.endpoint for l in lds], extra_args=args, id=f"gw{c}")
               for c in "ab"]
        self.c = Cluster(redis, lds, gws)
        self.wait_links_up(self.c)
        ports = [r.port for r in self.redises]
        self.env = django_env(ports, db_dir=self.workdir if db else None, keys=keys)
        self.cookie = login_cookie(self.env) if db else None
        # worker_channels: the routes every process serves, or (a list of
        # lists) each process's own routes
        per_process = (worker_channels if worker_channels and isinstance(worker_channels[0], list)
                       else [worker_channels] * workers)
        self.workers = [self.own(Runworker(chans, self.env, self.workdir, name=f"worker{i}")).start()
                        for i, chans in enumerate(per_process)]
        self.daphne = None
        if daphne:
            self.daphne = self.own(Daphne(redis.port, self.workdir))
            self.daphne.env.update({k: v for k, v in self.env.items() if k.startswith("SB_")})
            self.daphne.start()
        self.sockets = []

    def url(self, gw, kind, room):
        return f"ws://127.0.0.1:{gw.port}/ws/{kind}/{room}/"

    async def ws(self, url, **kw):
        ws = await websockets.connect(url, open_timeout=15, ping_interval=None, close_timeout=2, **kw)
        self.sockets.append(ws)
        return ws

    async def close_all(self):
        socks, self.sockets = self.sockets, []
        await asyncio.wait_for(asyncio.gather(*(s.close() for s in socks), return_exceptions=True), 15)

    def run_body(self, fn):
        async def wrapper():
            try:
                await fn()
            finally:
                await self.close_all()
        arun(wrapper(), TEST_TIMEOUT)

    async def recv_message(self, ws, text, timeout=10.0):
        """Reads frames until {"message": text}; fails on a timeout."""
        async def body():
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("message") == text:
                    return frame
        return await asyncio.wait_for(body(), timeout)

    async def all_chat(self, clients, tag, timeout=10.0):
        for i, sender in enumerate(clients):
            text = f"{tag}-{i}"
            await sender.send(json.dumps({"message": text}))
            await asyncio.gather(*(self.recv_message(r, text, timeout) for r in clients))

    def worker_of(self, w):
        """The Runworker whose dispatcher reads W."""
        for p in self.workers:
            if f"reads {w};" in p.log_text():
                return p
        raise AssertionError(f"no worker reads {w}")


class DjangoConsumers(DjangoCluster):
    def test_1_tutorial_chat_two_gateways_two_workers_builtin_and_daphne(self):
        self.start_all(["chat"], daphne=True)

        async def body():
            ga, gb = self.c.gateways
            dj = [await self.ws(self.url(g, "chat", "lobby")) for g in (ga, gb, ga, gb)]
            plain = await self.ws(self.url(gb, "plain", "lobby"))
            daphne = await self.ws(self.daphne.ws_url("lobby"))

            def members():
                return len(self.c.redis.cmd("ZRANGE", group_key("lobby"), 0, -1)) == 6
            await await_until(members, 15, "4 django sockets, 1 built-in, 1 daphne in chat_lobby")
            await self.all_chat(dj + [plain, daphne], "hello")
            # handler-in-worker: each django socket's chat_message ran in a worker
            # (6 messages x 4 django sockets)
            await await_until(lambda: sum(w.stats().get("events", 0) for w in self.workers) == 24,
                              15, "24 chat_message events handled in the workers")
        self.run_body(body)

    def test_2_session_login_accepted_anonymous_refused(self):
        self.start_all(["authchat", "state"], workers=1, db=True)

        async def body():
            ga, gb = self.c.gateways
            self.assertEqual(await handshake_status(self.url(ga, "auth", "lobby")), 403)
            a = await self.ws(self.url(ga, "auth", "lobby"), extra_headers={"Cookie": self.cookie})
            b = await self.ws(self.url(gb, "auth", "lobby"), extra_headers={"Cookie": self.cookie})
            await self.all_chat([a, b], "authed")
            st = await self.ws(self.url(gb, "state", "r1"), extra_headers={"Cookie": self.cookie})
            await st.send("who")
            rep = json.loads(await asyncio.wait_for(st.recv(), 10))
            self.assertEqual((rep["user"], rep["path"], rep["kwargs"]), ("alice", "/ws/state/r1/",
                                                                          {"room_name": "r1"}))
        self.run_body(body)

    def test_3_per_socket_state(self):
        self.start_all(["state"])

        async def body():
            ga, gb = self.c.gateways
            socks = [await self.ws(self.url(g, "state", "r")) for g in (ga, gb, ga)]
            for n in range(1, 4):
                for i, s in enumerate(socks):
                    if i <= n - 1 or n == 3:
                        await s.send(f"m{n}")
            counts = []
            for i, s in enumerate(socks):
                expect = {0: 3, 1: 2, 2: 1}[i]
                got = [json.loads(await asyncio.wait_for(s.recv(), 10))["count"] for _ in range(expect)]
                counts.append(got)
            self.assertEqual(counts, [[1, 2, 3], [1, 2], [1]])
        self.run_body(body)

    def test_4_killed_worker_sockets_get_1012_others_keep_chatting(self):
        self.start_all(["state", "chat"])

        async def body():
            ga, gb = self.c.gateways
            socks = []
            deadline = asyncio.get_running_loop().time() + 40
            while len({w for _, w in socks}) < 2 and asyncio.get_running_loop().time() < deadline:
                s = await self.ws(self.url([ga, gb][len(socks) % 2], "state", "r"))
                await s.send("who")
                socks.append((s, json.loads(await asyncio.wait_for(s.recv(), 10))["worker"]))
                await asyncio.sleep(0.1)  # the second process may still be starting
            victim_w = socks[0][1]
            victim = self.worker_of(victim_w)
            survivor = [p for p in self.workers if p is not victim][0]
            chat = [await self.ws(self.url(g, "chat", "lobby")) for g in (ga, gb)]
            await self.all_chat(chat, "before")
            victim.kill(signal.SIGKILL)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for s, w in socks:
                if w != victim_w:
                    continue
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                    await asyncio.wait_for(s.recv(), WORKER_TIMEOUT_MS / 1000 + 10)
                self.assertEqual(cm.exception.rcvd.code, 1012)
            self.assertLess(loop.time() - t0, WORKER_TIMEOUT_MS / 1000 + 1 + 5)
            for s, w in socks:
                if w == victim_w:
                    continue
                await s.send("still")
                self.assertEqual(json.loads(await asyncio.wait_for(s.recv(), 10))["text"], "still")
            survivor.check_alive("the other worker")
            # new chat sockets land on the live worker and chat with each other
            fresh = [await self.ws(self.url(g, "chat", "kitchen")) for g in (ga, gb)]
            await self.all_chat(fresh, "after")
        self.run_body(body)

    def test_5_fast_path_reaches_all_with_no_event_at_any_worker(self):
        n = 20
        self.start_all(["chatfast", "chat"])

        async def body():
            ga, gb = self.c.gateways
            fast = [await self.ws(self.url([ga, gb][i % 2], "fast", "big")) for i in range(n)]
            plain = await self.ws(self.url(ga, "plain", "big"))
            await await_until(lambda: len(self.c.redis.cmd("ZRANGE", group_key("big"), 0, -1)) == n + 1,
                              15, "all in chat_big")
            await plain.send(json.dumps({"message": "to all"}))
            await asyncio.gather(*(self.recv_message(s, "to all") for s in fast + [plain]))
            # a fast-path socket's own message: its consumer's receive() runs, the
            # group_send's deliveries do not
            await fast[3].send(json.dumps({"message": "from a consumer"}))
            await asyncio.gather(*(self.recv_message(s, "from a consumer") for s in fast + [plain]))
            await asyncio.sleep(2)  # two stats lines later
            stats = [w.stats() for w in self.workers]
            self.assertEqual(sum(s.get("events", 0) for s in stats), 0, stats)
            self.assertEqual(sum(s.get("receives", 0) for s in stats), 1, stats)
            self.assertEqual(sum(s.get("connects", 0) for s in stats), n, stats)
            # the gateways rendered the deliveries themselves: 2 messages x n sockets
            rendered = sum(scrape_metrics(g.port).get("switchboard_gateway_worker_events_rendered_total", 0)
                           for g in (ga, gb))
            forwarded = sum(scrape_metrics(g.port).get("switchboard_gateway_worker_events_forwarded_total", 0)
                            for g in (ga, gb))
            self.assertEqual((rendered, forwarded), (2 * n, 0))
        self.run_body(body)

    def test_6_bad_inputs(self):
        self.start_all(["boom"], workers=1)
        metrics = lambda gw: scrape_metrics(gw.port)  # noqa: E731

        def dropped(gw, reason):
            return metrics(gw).get(f'switchboard_gateway_worker_dropped_total{{reason="{reason}"}}', 0)

        async def body():
            ga, gb = self.c.gateways
            # a worker channel that no process reads: 503, not a hung handshake
            self.assertEqual(await handshake_status(self.url(ga, "nobody", "x"), timeout=30), 503)
            # a consumer that raises: that socket gets 1011, the other goes on
            a = await self.ws(self.url(ga, "boom", "x"))
            b = await self.ws(self.url(gb, "boom", "x"))
            await a.send("boom")
            with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                await asyncio.wait_for(a.recv(), 15)
            self.assertEqual(cm.exception.rcvd.code, 1011)
            await b.send("fine")
            rep = json.loads(await asyncio.wait_for(b.recv(), 10))
            self.assertEqual(rep["count"], 1)
            # replies the gateway must refuse, written as any Django code could:
            # no seq, another worker's name (with the socket's next seq), a
            # socket that does not exist
            sock, worker = rep["channel"], rep["worker"]
            layer = RedisChannelLayer(hosts=[("127.0.0.1", self.c.redis.port)])
            try:
                await layer.send(sock, {"type": "websocket.send", "text": "no seq", "worker": worker})
                await layer.send(sock, {"type": "websocket.send", "text": "spoofed", "seq": 3,
                                        "worker": "specific.0123456789abcdef0123456789abcdef!x"})
                await layer.send(sock.split("!")[0] + "!7fffffff", {"type": "websocket.send", "text": "x",
                                                                    "worker": worker, "seq": 1})
            finally:
                await layer.close_pools()
            # (a conn the gateway never had is one of its unknown targets)
            await await_until(lambda: dropped(gb, "bad_message") >= 1 and dropped(gb, "wrong_worker") >= 1
                              and dropped(gb, "unknown_socket")
                              + metrics(gb).get("switchboard_gateway_unknown_targets_total", 0) >= 1,
                              15, "three drops counted")
            await b.send("still fine")
            rep = json.loads(await asyncio.wait_for(b.recv(), 10))
            self.assertEqual((rep["count"], rep["text"]), (2, "still fine"))
            for gw in (ga, gb):
                gw.check_alive("after bad replies")
            self.workers[0].check_alive("after bad replies")
        self.run_body(body)


class Collector:
    """Every {"message": m} frame one socket receives, in order."""

    def __init__(self, ws):
        self.ws = ws
        self.got = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if "message" in frame:
                    self.got.append(frame["message"])
        except websockets.exceptions.ConnectionClosed:
            pass


class ConsumersAcrossLayers:
    """The tutorial chat, the fast path and a Django send() to a socket's
    channel, run with the channel layer settings of the subclass (issue 12,
    item 5): REDIS_HOSTS redis-servers in one order for layerd, the workers,
    daphne and the test's own channels_redis layer, and KEYS as Django's
    symmetric_encryption_keys (layerd's --symmetric-encryption-key)."""

    REDIS_HOSTS = 1
    KEYS = None

    def start(self, worker_channels, daphne=False):
        self.start_all(worker_channels, daphne=daphne, redis_hosts=self.REDIS_HOSTS, keys=self.KEYS)

    def django_layer(self):
        """A channels_redis layer configured as the app's settings.py is."""
        kw = {"symmetric_encryption_keys": list(self.KEYS)} if self.KEYS else {}
        return RedisChannelLayer(hosts=[("127.0.0.1", r.port) for r in self.redises], **kw)

    def rooms(self, per_host, tag):
        """Room names whose group chat_<room> lives on each host in turn
        (channels_redis' hash, docs/django.md, Several Redis hosts)."""
        n = len(self.redises)
        picked = {h: [] for h in range(n)}
        i = 0
        while any(len(v) < per_host for v in picked.values()):
            room = f"{tag}{i}"
            h = shard(f"chat_{room}", n)
            if len(picked[h]) < per_host:
                picked[h].append(room)
            i += 1
        return [r for h in range(n) for r in picked[h]]

    def group_host(self, room):
        return self.redises[shard(f"chat_{room}", len(self.redises))]

    def members(self, room):
        return len(self.group_host(room).cmd("ZRANGE", group_key(room), 0, -1))

    def events(self):
        return sum(w.stats().get("events", 0) for w in self.workers)

    def test_1_tutorial_chat_rooms_on_every_host_each_message_once_in_order(self):
        self.start(["chat"], daphne=True)
        rooms = self.rooms(2, "room")

        async def open_room(room):
            ga, gb = self.c.gateways
            return [await self.ws(self.url(ga, "chat", room)), await self.ws(self.url(gb, "chat", room)),
                    await self.ws(self.url(ga, "plain", room)), await self.ws(self.url(gb, "plain", room)),
                    await self.ws(self.daphne.ws_url(room))]

        async def room_body(room, socks):
            # every member's group_add is on the group's own host, whoever wrote it
            await await_until(lambda: self.members(room) == len(socks), 20,
                              f"2 django, 2 built-in, 1 daphne socket in chat_{room} on its host")
            readers = [Collector(s) for s in socks]
            sent = []
            for i, sender in enumerate(socks):
                # Switchboard carries a sender's group_sends in order (the
                # django sockets' through the worker, with seq): a burst. A
                # Django group_send (daphne's) lands in each gateway's inbox,
                # which every layerd drains, so two of them may pass each
                # other on the way: daphne's wait for each other.
                burst = i < len(socks) - 1
                for k in range(3):
                    text = f"{room}-{i}-{k}"
                    await sender.send(json.dumps({"message": text}))
                    sent.append(text)
                    if not burst:
                        await await_until(lambda: all(len(r.got) >= len(sent) for r in readers), 20,
                                          f"{room}: {text} reached every member")
                await await_until(lambda: all(len(r.got) >= len(sent) for r in readers), 20,
                                  f"{room}: sender {i}'s messages reached every member")
            return readers, sent

        async def body():
            # One connect at a time: channels_redis' plain-channel receive
            # waits on one host per call, and two processes reading the
            # route can be handed one connect twice, which puts one of them
            # out of step with the hosts the connects are written to
            # (docs/django.md, Several Redis hosts).
            socks = [await open_room(r) for r in rooms]
            results = await asyncio.gather(*(room_body(r, ss) for r, ss in zip(rooms, socks)))
            # 5 senders x 3 messages per room, handled by chat_message in a
            # worker for each of the room's 2 django sockets
            want_events = len(rooms) * 15 * 2
            await await_until(lambda: self.events() >= want_events, 20, f"{want_events} events in the workers")
            await asyncio.sleep(1.5)  # room for a duplicate or a stray message to show up
            for room, (readers, sent) in zip(rooms, results):
                for i, r in enumerate(readers):
                    self.assertEqual(r.got, sent, f"room {room}, member {i}")
            self.assertEqual(self.events(), want_events)
        self.run_body(body)

    def test_2_fast_path_room_reached_by_a_django_group_send_with_no_worker_event(self):
        # one route per runworker: with several hosts a process that reads two
        # plain channels never reads one of them on the second host
        # (docs/django.md, Several Redis hosts)
        self.start(["chatfast"])
        rooms = self.rooms(1, "fast")
        per_room = 4

        async def body():
            ga, gb = self.c.gateways
            readers = {}
            for room in rooms:
                socks = [await self.ws(self.url([ga, gb][i % 2], "fast", room)) for i in range(per_room)]
                readers[room] = [Collector(s) for s in socks]
            for room in rooms:
                await await_until(lambda: self.members(room) == per_room, 20, f"fast sockets in chat_{room}")
            await await_until(lambda: sum(w.stats().get("connects", 0) for w in self.workers)
                              == per_room * len(rooms), 20, "every connect counted by a worker")
            layer = self.django_layer()
            try:
                for room in rooms:
                    await layer.group_send(f"chat_{room}", {"type": "chat_message", "message": f"dj-{room}"})
            finally:
                await layer.close_pools()
            await await_until(lambda: all(r.got for rs in readers.values() for r in rs), 20,
                              "the Django group_send reached every fast-path socket")
            await asyncio.sleep(2)  # two stats lines later; room for a duplicate
            for room, rs in readers.items():
                for r in rs:
                    self.assertEqual(r.got, [f"dj-{room}"], room)
            self.assertEqual(self.events(), 0)
            rendered = sum(scrape_metrics(g.port).get("switchboard_gateway_worker_events_rendered_total", 0)
                           for g in (ga, gb))
            self.assertEqual(rendered, per_room * len(rooms))
        self.run_body(body)

    def test_3_django_send_to_a_sockets_channel_name_reaches_the_browser(self):
        self.start(["state"])
        n = len(self.redises)

        async def body():
            ga, gb = self.c.gateways
            socks = []  # (ws, its self.channel_name)
            # channels_redis' send() hashes the full name: with several hosts,
            # sockets until their channels' sends land on every host
            while len(socks) < 4 or len({shard(ch, n) for _, ch in socks}) < n:
                self.assertLess(len(socks), 40, "sends to 40 sockets all hash to one host")
                s = await self.ws(self.url([ga, gb][len(socks) % 2], "state", "r"))
                await s.send("who")
                socks.append((s, json.loads(await asyncio.wait_for(s.recv(), 10))["channel"]))
            layer = self.django_layer()
            try:
                for i, (_, ch) in enumerate(socks):
                    await layer.send(ch, {"type": "state.ping", "n": i})
            finally:
                await layer.close_pools()
            for i, (s, ch) in enumerate(socks):
                rep = json.loads(await asyncio.wait_for(s.recv(), 15))
                self.assertEqual(rep, {"ping": i, "count": 1}, ch)
            for s, ch in socks:  # and only once
                with self.assertRaises(asyncio.TimeoutError, msg=ch):
                    await asyncio.wait_for(s.recv(), 0.5)
        self.run_body(body)


class DjangoConsumersTwoRedis(ConsumersAcrossLayers, DjangoCluster):
    """Two redis-servers: channels_redis shards on the client, layerd is
    given both with --redis in Django's host order."""

    REDIS_HOSTS = 2

    def test_4_connects_to_two_routes_through_one_layerd_reach_their_workers(self):
        # One process per route, one layerd writing both routes' connects.
        # channels_redis' receive moves a route's reader to the next host
        # after each message, so layerd must write each route's connects on
        # the hosts in turn per route, not in one turn shared by all plain
        # channels (docs/django.md, Several Redis hosts, Plain channels).
        self.start_all([["chat"], ["state"]], redis_hosts=2, layerds=1)

        async def body():
            ga, gb = self.c.gateways
            for i in range(6):
                gw = [ga, gb][i % 2]
                st = await self.ws(self.url(gw, "state", f"s{i}"))
                await st.send("who")
                self.assertEqual(json.loads(await asyncio.wait_for(st.recv(), 10))["count"], 1)
                chat = await self.ws(self.url(gw, "chat", f"c{i}"))
                await chat.send(json.dumps({"message": f"m{i}"}))
                await self.recv_message(chat, f"m{i}")
        self.run_body(body)

    def test_5_a_burst_of_connects_to_processes_serving_two_routes_each_runs_connect_once(self):
        # Every process serves both routes, so channels_redis' receive() of a
        # route may wait on one host while a connect lands on the other
        # (without copies: 503 after the connect timeout). layerd writes each
        # connect on every host (SEND flag send_every_host) and the worker's
        # claim drops the copies (docs/django.md, Several Redis hosts, Plain
        # channels): every socket accepted, connect() once per socket, and
        # the claims and copies left in Redis all expire.
        self.start_all([["chat", "state"], ["chat", "state"]], redis_hosts=2, layerd_metrics=True)
        n = 40
        for w in self.workers:
            wait_until(lambda: (w.check_alive("its start") or "Running worker" in w.log_text()), 30,
                       f"{w.name} reading its routes")

        def total(ports, name):
            return sum(scrape_metrics(p).get(name, 0) for p in ports)

        async def body():
            ga, gb = self.c.gateways

            async def one(i):
                kind = "state" if i % 2 else "chat"
                ws = await self.ws(self.url([ga, gb][(i // 2) % 2], kind, f"r{i}"))  # a 503 raises here
                if kind == "state":
                    await ws.send("who")
                    self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 10))["count"], 1)
            await asyncio.gather(*(one(i) for i in range(n)))
            gw_ports = [g.port for g in self.c.gateways]
            self.assertEqual(total(gw_ports, 'switchboard_gateway_worker_connects_total{outcome="accepted"}'), n)
            for outcome in ("timeout", "unavailable", "refused"):
                self.assertEqual(total(gw_ports, f'switchboard_gateway_worker_connects_total{{outcome="{outcome}"}}'),
                                 0, outcome)
            # one extra copy per connect (two hosts, both up)
            self.assertEqual(total(self.ld_metrics, "switchboard_layerd_django_send_copies_total"), n)
            # connect() ran once per socket, whichever copies were popped
            await await_until(lambda: sum(w.stats().get("connects", 0) for w in self.workers) == n,
                              15, f"{n} connects taken in all")
            stats = [w.stats() for w in self.workers]
            self.assertEqual(sum(s.get("connects", 0) for s in stats), n, stats)
            self.assertEqual(sum(s.get("dropped_duplicate_connect", 0) + s.get("dropped_claim_failed", 0)
                                 for s in stats), 0, stats)
            # Redis: one claim per socket, every claim and every copy expires
            claims = 0
            for r in self.redises:
                for key in r.cmd("KEYS", "asgi:switchboard:connect:*"):
                    claims += 1
                    ttl = r.cmd("TTL", key)
                    self.assertTrue(0 < ttl <= 60 + 60, (key, ttl))
                for route in ("asgichat", "asgistate"):
                    self.assertNotEqual(r.cmd("TTL", route), -1, f"{route} on port {r.port} never expires")
            self.assertEqual(claims, n)
        self.run_body(body)


class DjangoConsumersEncrypted(ConsumersAcrossLayers, DjangoCluster):
    """symmetric_encryption_keys (two, the first encrypts) on the app's
    layer, the same keys in the same order to layerd."""

    KEYS = ("switchboard-test-key-one", "switchboard-test-key-two")


if __name__ == "__main__":
    unittest.main()
