# Bad input and failures, against real processes: every bad input listed in
# docs/protocol.md, "The chat socket" (bad JSON, bad message, binary frame, oversized message,
# flood, slow consumer) gets its defined answer (error frame or close code)
# and OTHER connections in the same room keep receiving normally afterwards;
# garbage on layerd's ZeroMQ socket, and a peer that speaks the protocol and
# then vanishes, do not kill or disturb it; Redis restarting, a gateway killed
# with SIGKILL and a layerd killed are survived. Why: the architecture's rule
# 5 - bad input never crashes and never loses other people's data - is only
# believable when each case has a test.
import asyncio
import json
import os
import signal
import unittest

import websockets.exceptions
import zmq

from harness import (seed_view, Clients, ProcessTestCase, RawWebSocket, arun, await_until, channel_re,
                     chat_eventually_works, chat_works, expect_close, group_key, recv_json,
                     recv_n, recv_until, send_msg, ws_connect)


class BadClientInput(ProcessTestCase):
    """A misbehaving client gets its answer; bystanders on both gateways are unaffected."""

    def start(self, gateway_args=()):
        self.c = self.start_cluster(layerds=2, gateways=2, gateway_args=gateway_args)
        self.gwa, self.gwb = self.c.gateways

    async def bystanders(self, cl, room):
        return [await cl.connect(self.gwa, room), await cl.connect(self.gwb, room)]

    async def assert_room_still_works(self, cl, room, bystanders, tag, allow_before=None):
        """A fresh client's message reaches every bystander; anything received
        before it must be an ordinary chat message (allow_before filters which)."""
        sender = await cl.connect(self.gwb, room)
        await send_msg(sender, tag)
        for ws in bystanders + [sender]:
            got = await recv_until(ws, lambda m: m.get("message") == tag, 5)
            for m in got[:-1]:
                self.assertTrue(allow_before is not None and allow_before(m),
                                f"unexpected frame before {tag!r}: {m!r}")

    def test_bad_json_gets_an_error_frame_and_the_connection_stays_usable(self):
        self.start()

        async def body():
            async with Clients() as cl:
                room = "badjson"
                by = await self.bystanders(cl, room)
                bad = await cl.connect(self.gwa, room)
                for text in ["not json", "{", "[1, 2]", "42", '"str"', "null"]:
                    with self.subTest(text=text):
                        await bad.send(text)
                        err = await recv_json(bad, 5)
                        self.assertEqual(err.get("type"), "error", err)
                        self.assertEqual(err.get("code"), "bad_json", err)
                        self.assertIn("detail", err)
                await send_msg(bad, "still here")
                for ws in by + [bad]:
                    self.assertEqual(seed_view(await recv_json(ws, 5)), {"message": "still here"})
                await self.assert_room_still_works(cl, room, by, "after bad json")
        arun(body(), 30)

    def test_a_missing_or_non_string_message_gets_bad_message(self):
        self.start()

        async def body():
            async with Clients() as cl:
                room = "badmessage"
                by = await self.bystanders(cl, room)
                bad = await cl.connect(self.gwb, room)
                for obj in [{}, {"msg": "x"}, {"message": 5}, {"message": None},
                            {"message": ["a"]}, {"message": {"a": 1}}, {"message": True}]:
                    with self.subTest(obj=obj):
                        await bad.send(json.dumps(obj))
                        err = await recv_json(bad, 5)
                        self.assertEqual(err.get("type"), "error", err)
                        self.assertEqual(err.get("code"), "bad_message", err)
                await send_msg(bad, "ok now")
                for ws in by + [bad]:
                    self.assertEqual(seed_view(await recv_json(ws, 5)), {"message": "ok now"})
                await self.assert_room_still_works(cl, room, by, "after bad message")
        arun(body(), 30)

    def test_a_binary_frame_closes_with_1003(self):
        self.start()

        async def body():
            async with Clients() as cl:
                room = "binary"
                by = await self.bystanders(cl, room)
                bad = await cl.connect(self.gwa, room)
                await bad.send(b'{"message": "binary"}')
                code, _ = await expect_close(bad, 5)
                self.assertEqual(code, 1003)
                await self.assert_room_still_works(cl, room, by, "after binary")
        arun(body(), 30)

    def check_size_limit(self, gw, room: str, under: int, over: int):
        """A message of `under` bytes reaches the room; one of `over` closes
        its sender with 1009 and the room goes on."""
        async def body():
            async with Clients() as cl:
                by = await self.bystanders(cl, room)
                fine = await cl.connect(gw, room)
                text = "u" * under
                await send_msg(fine, text)
                for ws in by + [fine]:
                    self.assertEqual(seed_view(await recv_json(ws, 5)), {"message": text})
                bad = await cl.connect(gw, room)
                await bad.send(json.dumps({"message": "x" * over}))
                code, _ = await expect_close(bad, 5)
                self.assertEqual(code, 1009)
                await self.assert_room_still_works(cl, room, by, f"after {over}")
        arun(body(), 30)

    def test_a_message_over_the_default_limit_closes_with_1009(self):
        self.start()
        self.check_size_limit(self.gwa, "big", 60000, 70000)

    def test_a_message_over_a_configured_limit_closes_with_1009(self):
        self.start(gateway_args=["--max-message-size", "1024"])
        self.check_size_limit(self.gwb, "small", 900, 2000)

    def test_a_flood_faster_than_the_rate_limit_closes_with_1008(self):
        self.start(gateway_args=["--rate-limit", "5", "--rate-burst", "5"])

        async def body():
            async with Clients() as cl:
                room = "flood"
                by = await self.bystanders(cl, room)
                bad = await cl.connect(self.gwa, room)
                sent = 0
                try:
                    for k in range(200):
                        await send_msg(bad, f"flood{k}")
                        sent += 1
                except websockets.exceptions.ConnectionClosed:
                    pass  # the server may close while we still send
                code, reason = await expect_close(bad, 10)
                self.assertEqual(code, 1008)
                self.assertEqual(reason, "rate limit")
                await self.assert_room_still_works(
                    cl, room, by, "after flood",
                    allow_before=lambda m: set(seed_view(m)) == {"message"} and m["message"].startswith("flood"))
        arun(body(), 30)

    def test_a_consumer_that_stops_reading_is_closed_with_1008_slow_consumer(self):
        self.start(gateway_args=["--send-queue-messages", "64", "--send-queue-bytes", "262144",
                                 "--rate-limit", "100000", "--rate-burst", "100000"])
        room, count, size = "slow", 500, 20000  # 10 MB: far beyond kernel buffers + queue

        async def body():
            async with Clients() as cl:
                by = await self.bystanders(cl, room)
                slow = RawWebSocket(self.gwa.port, f"/ws/chat/{room}/")
                self.addCleanup(slow.close)
                self.assertEqual(slow.status, 101)
                sender = await cl.connect(self.gwb, room)
                readers = by + [sender]
                batch = 10  # paced, so the readers that do read never fall behind
                for start in range(0, count, batch):
                    for k in range(start, start + batch):
                        await send_msg(sender, f"{k:06d}" + "z" * size)
                    for got in await asyncio.gather(*(recv_n(ws, batch, 10) for ws in readers)):
                        self.assertEqual([m["message"][:6] for m in got],
                                         [f"{k:06d}" for k in range(start, start + batch)])
                # Its queue stays full: closed once that has lasted --slow-consumer-ms
                # (docs/architecture.md, "Overload"); reading before then would save it.
                await await_until(lambda: len(self.c.members(room)) == 3, 30,
                                  "the slow consumer's member removed")
                frames, closed = await asyncio.wait_for(asyncio.to_thread(slow.read_frames), 30)
                texts = [f for f in frames if f[0] == 1]
                self.assertLess(len(texts), count, "the slow consumer was never cut off")
                self.assertTrue(self.gwa.alive())
                await self.assert_room_still_works(cl, room, by, "after slow consumer")
                # docs/protocol.md: past the send-queue bounds -> close 1008 "slow consumer"
                self.assertTrue(closed, f"connection dropped without a close frame after "
                                        f"{len(texts)} messages")
                payload = frames[-1][1]
                self.assertEqual(int.from_bytes(payload[:2], "big"), 1008)
                self.assertEqual(payload[2:].decode(), "slow consumer")
        arun(body(), 90)


class GarbageOnTheLayerSocket(ProcessTestCase):
    """Hostile ZeroMQ peers: layerd survives and keeps serving (1 layerd, so all
    chat goes through it)."""

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways
        self.layerd = self.c.layerds[0]
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.term)

    def send_garbage(self, frames_list):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 2000)
        s.setsockopt(zmq.IDENTITY, os.urandom(8))
        s.connect(self.layerd.endpoint)
        try:
            for frames in frames_list:
                s.send_multipart(frames)
            # drain whatever layerd answers (e.g. ERROR), bounded
            for _ in range(50):
                if not s.poll(20):
                    break
                s.recv_multipart()
        finally:
            s.close(linger=2000)

    def run_cases(self, cases):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "zmq")
                b = await cl.connect(self.gwb, "zmq")
                await chat_works(a, [a, b], "before", 5)
                for name, frames_list in cases:
                    with self.subTest(case=name):
                        self.send_garbage(frames_list)
                        await chat_works(b, [a, b], "after " + name, 5)
                        self.assertTrue(self.layerd.alive(),
                                        f"layerd died after {name} (rc={self.layerd.returncode()})")
                        # a new connection still joins through this layerd
                        n = await cl.connect(self.gwa, "zmq")
                        await chat_works(n, [a, b, n], "joined after " + name, 5)
                self.assertTrue(self.layerd.alive())
        arun(body(), 90)

    def test_garbage_frames_do_not_kill_layerd(self):
        self.run_cases([
            ("a single random frame", [[os.urandom(64)]]),
            ("three random frames", [[os.urandom(7), os.urandom(300), os.urandom(1)]]),
            ("kind 2 then truncated msgpack", [[b"\x02", b"\x82\xa5group\xa4ch"]]),
            ("kind 2 then invalid msgpack bytes", [[b"\x02", b"\xc1\xc1\xc1\xc1"]]),
            ("kind 2 then random bytes", [[b"\x02", os.urandom(200)]]),
            ("kind 2 then a huge bogus str length", [[b"\x02", b"\xdb\xff\xff\xff\xf0abc"]]),
            ("kind 2 then a huge bogus map length", [[b"\x02", b"\xdf\xff\xff\xff\xff"]]),
            ("kind 2 then a huge bogus array length", [[b"\x02", b"\xdd\x7f\xff\xff\xff\x01"]]),
            ("kind 2 then a map whose value claims 2 GiB", [[b"\x02", b"\x81\xa5group\xc6\x7f\xff\xff\xff"]]),
            ("an empty message", [[b""]]),
        ])

    def test_every_kind_with_a_wrong_body_does_not_kill_layerd(self):
        bodies = [b"", b"\x90", b"\x80", b"\xa3abc", b"\x81\xa4type\x05",
                  b"\x84\xa5group\x01\xa7channel\x02\xa5event\x03\xa4type\x04"]
        frames = [[bytes([k]), body] for k in range(16) for body in bodies]
        frames += [[b"\x02\x00", b"\x80"], [b"\xff\xff\xff\xff", b"\x80"], [b"", b"\x80"],
                   [b"\x02", b"\x80", b"extra", b"frames"]]
        self.run_cases([("every kind with wrong bodies", frames),
                        ("deeply nested msgpack", [[b"\x02", b"\x91" * 100000 + b"\x00"]])])


def mp(v) -> bytes:
    """Just enough msgpack (ints >= 0, str, list) to speak the layer protocol."""
    if isinstance(v, int):
        return bytes([v]) if v < 128 else b"\xcf" + v.to_bytes(8, "big")
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    raise TypeError(v)


HELLO, WELCOME, GROUP_ADD, ERROR, ACK = 1, 2, 3, 9, 10  # proto/messages.hpp


class HostilePeerSpeakingTheProtocol(ProcessTestCase):
    """A ZeroMQ peer that says HELLO, joins, then vanishes; and one that skips HELLO."""

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways
        self.layerd = self.c.layerds[0]
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.term)

    def peer(self, identity: bytes):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IDENTITY, identity)
        s.connect(self.layerd.endpoint)
        self.addCleanup(s.close, 0)
        return s

    def request(self, s, kind, body, want_kind):
        s.send_multipart([bytes([kind]), mp(body)])
        for _ in range(20):  # skip heartbeats etc., bounded
            self.assertTrue(s.poll(5000), f"no answer to kind {kind}")
            frames = s.recv_multipart()
            if frames[0] == bytes([want_kind]):
                return frames
        self.fail(f"no kind {want_kind} answer")

    def test_a_peer_that_joins_and_vanishes_neither_disturbs_delivery_nor_stays_in_redis(self):
        room = "zmqpeer"
        gid = "fake.0123456789abcdef"
        chan = f"specific.{gid}!c1"

        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, room)
                b = await cl.connect(self.gwb, room)
                # a peer without HELLO is refused and nothing reaches Redis
                stranger = self.peer(b"stranger.0123456789abcdef")
                err = self.request(stranger, GROUP_ADD,
                                   [5, "chat_" + room, "specific.stranger.0123456789abcdef!x"], ERROR)
                self.assertIn(b"unknown_gateway", err[1])
                # a peer that says HELLO and joins is listed like a gateway
                fake = self.peer(gid.encode())
                self.request(fake, HELLO, [1, 0, gid], WELCOME)
                self.request(fake, GROUP_ADD, [7, "chat_" + room, chan], ACK)
                # ...but it cannot add another gateway's channel
                other = next(m for m in self.c.members(room) if m.startswith("specific.gwa."))
                err = self.request(fake, GROUP_ADD, [8, "chat_" + room, other.rsplit("!", 1)[0] + "!evil"], ERROR)
                self.assertIn(b"bad_name", err[1])
                await await_until(lambda: chan in self.c.members(room), 5, "fake member listed")
                self.assertEqual(len(self.c.members(room)), 3, self.c.members(room))
                fake.close(0)  # vanish without a word

                await chat_works(a, [a, b], "peer gone", 5)
                await chat_works(b, [a, b], "peer gone 2", 5)
                await await_until(lambda: chan not in self.c.members(room), 15,
                                  "the vanished peer's member removed", interval=0.25)
                self.assertEqual(len(self.c.members(room)), 2)
                await chat_works(a, [a, b], "still fine", 5)
                self.assertTrue(self.layerd.alive())
        arun(body(), 60)


class Outages(ProcessTestCase):

    def test_redis_restarting_on_the_same_port_is_survived(self):
        c = self.start_cluster(layerds=2, gateways=2)
        gwa, gwb = c.gateways
        room = "outage"
        key = group_key(room)

        async def body():
            async with Clients() as cl:
                old = [await cl.connect(gwa, room), await cl.connect(gwb, room),
                       await cl.connect(gwa, room), await cl.connect(gwb, room)]
                await chat_works(old[0], old, "before", 5)
                await await_until(lambda: len(c.members(room)) == 4, 5, "4 members before")

                c.redis.cmd("SET", "outage-marker", "1")
                c.redis.stop()
                self.assertFalse(c.redis.alive())
                c.redis.start()  # same port, empty data set
                # The marker proves the data set is new; the group key may
                # already be back, as layerd re-adds members on reconnect.
                self.assertEqual(c.redis.cmd("EXISTS", "outage-marker"), 0)

                await chat_eventually_works(old[1], old, "after restart", 15)
                new = []
                for gw in (gwa, gwb):
                    async def join():
                        try:
                            ws = await ws_connect(gw, room, open_timeout=3)
                        except Exception:
                            return None
                        cl.sockets.append(ws)
                        return ws
                    new.append(await await_until(join, 15, f"a new client joins via {gw.name}",
                                                 interval=0.5))
                everyone = old + new
                await chat_eventually_works(new[0], everyone, "new after restart", 15)

                def all_listed():
                    m = c.members(room)
                    return len(m) == 6 and len(set(m)) == 6
                await await_until(all_listed, 15, "every connected member listed again",
                                  interval=0.25)
                ttl = c.redis.cmd("TTL", key)
                self.assertGreater(ttl, 0)
                self.assertTrue(all(c.layerds[i].alive() for i in range(2)))
        arun(body(), 90)

    def test_a_gateway_killed_with_sigkill_loses_its_members_within_15s(self):
        c = self.start_cluster(layerds=2, gateways=2)
        gwa, gwb = c.gateways
        room = "killgw"

        async def body():
            async with Clients() as cl:
                on_a = [await cl.connect(gwa, room) for _ in range(3)]
                on_b = [await cl.connect(gwb, room) for _ in range(3)]
                await chat_works(on_a[0], on_a + on_b, "before", 5)
                await await_until(lambda: len(c.members(room)) == 6, 5, "6 members")
                a_members = {m for m in c.members(room) if channel_re("gwa").match(m)}
                self.assertEqual(len(a_members), 3)

                gwb.kill(signal.SIGKILL)
                self.assertFalse(gwb.alive())

                def b_gone():
                    m = c.members(room)
                    return not any(channel_re("gwb").match(x) for x in m)
                await await_until(b_gone, 15, "gwb's members removed", interval=0.25)
                self.assertEqual(set(c.members(room)), a_members)
                await chat_works(on_a[1], on_a, "after kill", 5)
        arun(body(), 60)

    def test_chat_survives_one_of_two_layerds_being_killed(self):
        c = self.start_cluster(layerds=2, gateways=2)
        gwa, gwb = c.gateways
        rooms = [f"fail{i}" for i in range(8)]  # spread over both layerds

        async def body():
            async with Clients() as cl:
                pairs = {}
                for r in rooms:
                    pairs[r] = [await cl.connect(gwa, r), await cl.connect(gwb, r)]
                    await chat_works(pairs[r][0], pairs[r], "before " + r, 5)

                c.layerds[0].kill(signal.SIGKILL)

                for r in rooms:
                    a, b = pairs[r]
                    await chat_eventually_works(a, [a, b], "a after kill " + r, 15)
                    await chat_eventually_works(b, [a, b], "b after kill " + r, 15)
                for r in rooms:
                    new = []
                    for gw in (gwa, gwb):
                        async def join():
                            try:
                                ws = await ws_connect(gw, r, open_timeout=3)
                            except Exception:
                                return None
                            cl.sockets.append(ws)
                            return ws
                        new.append(await await_until(join, 15, f"new client in {r} via {gw.name}",
                                                     interval=0.5))
                    await chat_eventually_works(new[0], pairs[r] + new, "new " + r, 15)
                    await chat_works(pairs[r][1], pairs[r] + new, "old to new " + r, 5)
                self.assertTrue(c.layerds[1].alive())
        arun(body(), 120)

    def test_a_restarted_layerd_gets_every_member_back_from_the_gateways(self):
        # The gateways' link notices the new layerd (it does not know them),
        # says HELLO again and SYNCs its members; Redis' copy is wiped first,
        # so only that SYNC can bring the group back.
        c = self.start_cluster(layerds=1, gateways=2)
        gwa, gwb = c.gateways
        room = "comeback"

        async def body():
            async with Clients() as cl:
                a = await cl.connect(gwa, room)
                b = await cl.connect(gwb, room)
                await chat_works(a, [a, b], "before", 5)
                c.layerds[0].kill(signal.SIGKILL)
                c.redis.cmd("DEL", group_key(room))
                c.layerds[0].start()
                await chat_eventually_works(a, [a, b], "a after restart", 15)
                await chat_works(b, [a, b], "b after restart", 5)
                await await_until(lambda: len(c.members(room)) == 2, 10, "both members in Redis again",
                                  interval=0.25)
        arun(body(), 60)


if __name__ == "__main__":
    unittest.main()
