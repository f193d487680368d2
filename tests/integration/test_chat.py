# Chat behaviour end to end, against real processes: 1 redis-server, 2 layerds
# and 2 gateways (every gateway lists both layerds in the same order) unless a
# test says otherwise. Covers what docs/protocol.md promises to browsers and
# docs/django.md to Django (the channels_redis group layout in Redis): cross-gateway delivery,
# one order per group, per-sender FIFO, room isolation, membership in Redis,
# non-ASCII rooms, the seed's room.html protocol and the HTTP answers.
import asyncio
import hashlib
import json
import re
import time
import unittest
import urllib.parse

import websockets

from harness import (seed_view, SEED_DIR, Clients, scrape_metrics, ProcessTestCase, arun, await_until, channel_re,
                     group_key, handshake_status, http_request, recv_n, recv_until,
                     send_msg)


class ChatDelivery(ProcessTestCase):

    def setUp(self):
        self.c = self.start_cluster(layerds=2, gateways=2)
        self.gwa, self.gwb = self.c.gateways

    def test_a_message_sent_on_one_gateway_reaches_members_on_both(self):
        async def body():
            async with Clients() as cl:
                a1 = await cl.connect(self.gwa, "lobby")
                a2 = await cl.connect(self.gwa, "lobby")
                b1 = await cl.connect(self.gwb, "lobby")
                await send_msg(a1, "hello from a")
                for ws in (a1, a2, b1):
                    self.assertEqual([seed_view(m) for m in await recv_n(ws, 1, 5)], [{"message": "hello from a"}])
                await send_msg(b1, "hello from b")
                for ws in (a1, a2, b1):
                    self.assertEqual([seed_view(m) for m in await recv_n(ws, 1, 5)], [{"message": "hello from b"}])
        arun(body(), 30)

    def test_every_member_sees_the_same_order_under_concurrent_senders(self):
        senders_n, per_sender, receivers_n = 4, 50, 6

        async def body():
            async with Clients() as cl:
                gws = [self.gwa, self.gwb]
                receivers = [await cl.connect(gws[i % 2], "order") for i in range(receivers_n)]
                senders = [await cl.connect(gws[(i + 1) % 2], "order") for i in range(senders_n)]
                total = senders_n * per_sender

                async def send_all(i, ws):
                    for k in range(per_sender):
                        await send_msg(ws, f"s{i}-{k}")

                everyone = receivers + senders
                rx = [asyncio.ensure_future(recv_n(ws, total, 30)) for ws in everyone]
                await asyncio.gather(*(send_all(i, ws) for i, ws in enumerate(senders)))
                seqs = [[m["message"] for m in r] for r in await asyncio.gather(*rx)]

                expected = {f"s{i}-{k}" for i in range(senders_n) for k in range(per_sender)}
                self.assertEqual(set(seqs[0]), expected)
                self.assertEqual(len(seqs[0]), total)
                for idx, seq in enumerate(seqs[1:], 1):
                    self.assertEqual(seq, seqs[0], f"member {idx} saw another order")
        arun(body(), 60)

    def test_each_senders_messages_arrive_in_the_order_they_were_sent(self):
        senders_n, per_sender = 3, 80

        async def body():
            async with Clients() as cl:
                senders = [await cl.connect([self.gwa, self.gwb][i % 2], "fifo")
                           for i in range(senders_n)]
                watchers = [await cl.connect(self.gwa, "fifo"), await cl.connect(self.gwb, "fifo")]
                total = senders_n * per_sender
                everyone = senders + watchers
                rx = [asyncio.ensure_future(recv_n(ws, total, 30)) for ws in everyone]

                async def send_all(i, ws):
                    for k in range(per_sender):
                        await send_msg(ws, f"{i}:{k}")
                await asyncio.gather(*(send_all(i, ws) for i, ws in enumerate(senders)))
                for who, msgs in enumerate(await asyncio.gather(*rx)):
                    per = {i: [] for i in range(senders_n)}
                    for m in msgs:
                        s, k = m["message"].split(":")
                        per[int(s)].append(int(k))
                    for s in range(senders_n):
                        self.assertEqual(per[s], list(range(per_sender)),
                                         f"member {who}: sender {s} out of order")
        arun(body(), 60)

    def test_joining_and_leaving_is_reflected_in_the_redis_group(self):
        room = "joinleave"
        key = group_key(room)

        async def body():
            async with Clients() as cl:
                a1 = await cl.connect(self.gwa, room)
                a2 = await cl.connect(self.gwa, room)
                b1 = await cl.connect(self.gwb, room)

                def zrange():
                    r = self.c.redis.cmd("ZRANGE", key, 0, -1, "WITHSCORES")
                    return {r[i].decode(): float(r[i + 1]) for i in range(0, len(r), 2)}

                members = await await_until(lambda: (lambda z: z if len(z) >= 3 else None)(zrange()),
                                            5, "3 members in " + key)
                self.assertEqual(len(members), 3, members)
                on_a = [m for m in members if channel_re("gwa").match(m)]
                on_b = [m for m in members if channel_re("gwb").match(m)]
                self.assertEqual(len(on_a), 2, members)
                self.assertEqual(len(on_b), 1, members)
                now = time.time()
                for m, score in members.items():
                    self.assertLess(abs(score - now), 120, f"score of {m} is not a join time")
                ttl = self.c.redis.cmd("TTL", key)
                self.assertGreater(ttl, 0)
                self.assertLessEqual(ttl, 86400)

                await b1.close()
                left = await await_until(lambda: (lambda z: z if len(z) == 2 else None)(zrange()),
                                         5, "b1 gone from " + key)
                self.assertEqual(set(left), set(on_a))

                await a1.close()
                await a2.close()
                await await_until(lambda: self.c.redis.cmd("EXISTS", key) == 0, 5,
                                  key + " deleted after the last member left")
        arun(body(), 30)

    def test_a_hundred_clients_in_ten_rooms_only_hear_their_own_room(self):
        rooms, per_room = 10, 10

        async def body():
            async with Clients() as cl:
                clients = {}
                for r in range(rooms):
                    clients[r] = await asyncio.gather(*(
                        cl.connect([self.gwa, self.gwb][(r + i) % 2], f"room{r}")
                        for i in range(per_room)))
                await asyncio.gather(*(send_msg(ws, f"room{r}-from{i}")
                                       for r in range(rooms)
                                       for i, ws in enumerate(clients[r])))
                # each room's own 10 messages arrive; then an end marker per room,
                # sent after everything else was received, closes the window.
                first = await asyncio.gather(*(recv_n(ws, per_room, 30)
                                               for r in range(rooms) for ws in clients[r]))
                await asyncio.gather(*(send_msg(clients[r][0], f"end{r}") for r in range(rooms)))
                rest = await asyncio.gather(*(
                    recv_until(ws, lambda m, r=r: m.get("message") == f"end{r}", 15)
                    for r in range(rooms) for ws in clients[r]))
                idx = 0
                for r in range(rooms):
                    want = sorted(f"room{r}-from{i}" for i in range(per_room))
                    for _ in range(per_room):
                        got = [m["message"] for m in first[idx] + rest[idx][:-1]]
                        self.assertEqual(sorted(got), want, f"a client in room{r}")
                        idx += 1
        arun(body(), 90)

    def test_a_korean_room_works_and_uses_the_hashed_group_name(self):
        room = "로비"
        expected_group = "chat_." + hashlib.sha1(room.encode("utf-8")).hexdigest()[:32]
        key = "asgi:group:" + expected_group
        self.assertEqual(group_key(room), key)

        async def body():
            async with Clients() as cl:
                url = self.gwa.ws_url(room)
                self.assertIn("%EB%A1%9C%EB%B9%84", url)
                a = await cl.connect(self.gwa, room)
                b = await cl.connect(self.gwb, room)
                await send_msg(a, "안녕하세요")
                for ws in (a, b):
                    self.assertEqual([seed_view(m) for m in await recv_n(ws, 1, 5)], [{"message": "안녕하세요"}])
                members = await await_until(
                    lambda: (lambda m: m if len(m) == 2 else None)(self.c.redis.cmd("ZRANGE", key, 0, -1)),
                    5, "2 members in " + key)
                self.assertEqual(len(members), 2)
                groups = sorted(k.decode() for k in self.c.redis.cmd("KEYS", "asgi:group:*"))
                self.assertEqual(groups, [key])
        arun(body(), 30)


class ChatDeliveryOnFourIoThreads(ChatDelivery):
    """The same delivery tests with --threads 4 on both gateways: sessions of
    one room then live on different I/O threads."""

    def setUp(self):
        self.c = self.start_cluster(layerds=2, gateways=2, gateway_args=["--threads", "4"])
        self.gwa, self.gwb = self.c.gateways


class ChatDeliveryWithAFlushInterval(ChatDelivery):
    """The same delivery tests with --flush-interval-us: frames wait up to
    that long to share a write; nothing may be lost or reordered."""

    def setUp(self):
        self.c = self.start_cluster(layerds=2, gateways=2, gateway_args=["--flush-interval-us", "20000"])
        self.gwa, self.gwb = self.c.gateways

    def test_messages_sent_within_the_interval_share_writes(self):
        def writes_and_frames():
            v = scrape_metrics(self.gwa.port)
            return v["switchboard_gateway_socket_writes_total"], v["switchboard_gateway_frames_out_total"]

        async def body():
            async with Clients() as cl:
                receivers = [await cl.connect(self.gwa, "batch") for _ in range(3)]
                sender = await cl.connect(self.gwb, "batch")
                w0, f0 = writes_and_frames()
                for k in range(10):
                    await send_msg(sender, f"m{k}")
                for ws in receivers:
                    self.assertEqual([m["message"] for m in await recv_n(ws, 10, 10)], [f"m{k}" for k in range(10)])
                w1, f1 = writes_and_frames()
                self.assertEqual(f1 - f0, 30)
                # 10 messages sent in well under 20 ms: far fewer than one write per frame.
                self.assertLess(w1 - w0, 15, (w1 - w0, f1 - f0))
        arun(body(), 30)


class Pages(ProcessTestCase):
    """HTTP side; one gateway is enough (pages need no layerd traffic)."""

    def setUp(self):
        self.c = self.start_cluster(layerds=2, gateways=1)
        self.gw = self.c.gateways[0]

    def room_name_element(self, page: str) -> str:
        m = re.search(r'<script id="room-name" type="application/json">(.*?)</script>', page, re.S)
        self.assertIsNotNone(m, "no room-name json_script element")
        return m.group(1)

    def test_the_room_page_serves_the_seed_script_and_the_room_name(self):
        seed = (SEED_DIR / "room.html").read_text()
        script = re.search(r"<script>.*?</script>", seed, re.S).group(0)
        status, headers, body = http_request(self.gw.port, "GET", "/classic/chat/lobby/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("content-type", ""))
        page = body.decode("utf-8")
        self.assertIn(script, page)
        self.assertIn('<script id="room-name" type="application/json">"lobby"</script>', page)
        self.assertEqual(json.loads(self.room_name_element(page)), "lobby")

    def test_the_seed_script_flow_works_end_to_end(self):
        # Do what room.html's script does: JSON.parse the room-name element,
        # open 'ws://' + host + '/ws/chat/' + roomName + '/' (the URL parser
        # percent-encodes non-ASCII), send JSON.stringify({message}), read
        # JSON.parse(e.data).message.

        async def body():
            for room in ["lobby", "로비"]:
                with self.subTest(room=room):
                    path = "/classic/chat/" + urllib.parse.quote(room, safe="") + "/"
                    status, _, page = http_request(self.gw.port, "GET", path)
                    self.assertEqual(status, 200)
                    room_name = json.loads(self.room_name_element(page.decode("utf-8")))
                    self.assertEqual(room_name, room)
                    url = "ws://" + f"127.0.0.1:{self.gw.port}" + "/ws/chat/" + room_name + "/"
                    async with websockets.connect(url, open_timeout=10, ping_interval=None) as ws:
                        m = "seed says 안녕 <b>&"
                        await ws.send(json.dumps({"message": m}, separators=(",", ":"),
                                                 ensure_ascii=False))
                        data = json.loads(await asyncio.wait_for(ws.recv(), 5))
                        self.assertEqual(data["message"], m)
        arun(body(), 30)

    def test_a_hostile_room_name_is_embedded_escaped(self):
        name = "</script><script>alert(1)</script>"
        status, _, body = http_request(self.gw.port, "GET",
                                       "/chat/" + urllib.parse.quote(name, safe="") + "/")
        self.assertEqual(status, 200)
        page = body.decode("utf-8")
        text = self.room_name_element(page)
        self.assertNotIn("</script><script>", text)
        self.assertNotIn("<", text)
        self.assertEqual(json.loads(text), name)
        django = json.dumps(name).translate(
            {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"})
        self.assertEqual(text, django)
        self.assertNotIn("<script>alert(1)", page)

    def test_a_non_ascii_room_name_is_embedded_as_ascii_json(self):
        name = "로비&<>"
        status, _, body = http_request(self.gw.port, "GET",
                                       "/chat/" + urllib.parse.quote(name, safe="") + "/")
        self.assertEqual(status, 200)
        text = self.room_name_element(body.decode("utf-8"))
        self.assertTrue(text.isascii(), text)
        self.assertEqual(json.loads(text), name)
        self.assertEqual(text.lower(), json.dumps(name).translate(
            {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}).lower())

    def test_the_index_page_has_the_room_name_input(self):
        status, headers, body = http_request(self.gw.port, "GET", "/chat/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("content-type", ""))
        self.assertIn('id="room-name-input"', body.decode("utf-8"))

    def test_http_errors_follow_the_contract(self):
        with self.subTest("unknown path"):
            self.assertEqual(http_request(self.gw.port, "GET", "/nope")[0], 404)
        with self.subTest("unknown path under /chat"):
            self.assertEqual(http_request(self.gw.port, "GET", "/chat/a/b/c/")[0], 404)
        with self.subTest("POST /chat/"):
            status, headers, _ = http_request(self.gw.port, "POST", "/chat/", body=b"x")
            self.assertEqual(status, 405)
            allow = {m.strip() for m in headers.get("allow", "").split(",")}
            self.assertEqual(allow, {"GET", "HEAD"})
        with self.subTest("HEAD /chat/"):
            self.assertEqual(http_request(self.gw.port, "HEAD", "/chat/")[0], 200)
        with self.subTest("plain GET on the websocket route"):
            self.assertEqual(http_request(self.gw.port, "GET", "/ws/chat/lobby/")[0], 426)
        with self.subTest("healthz"):
            status, _, body = http_request(self.gw.port, "GET", "/healthz")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["status"], "ok")

    def test_bad_room_names_are_refused_at_the_handshake(self):
        base = f"ws://127.0.0.1:{self.gw.port}/ws/chat/"

        async def body():
            for raw in ["a-b", "a.b", "a" * 101, "%ZZ", "a%20b", "%FF%FE"]:
                with self.subTest(room=raw[:20]):
                    self.assertEqual(await handshake_status(base + raw + "/"), 404)
            # the boundary: 100 word characters is a valid room
            self.assertEqual(await handshake_status(base + "a" * 100 + "/"), 101)
        arun(body(), 60)


if __name__ == "__main__":
    unittest.main()
