# test_django_bridge.py — Switchboard and Django's channels_redis on one Redis.
#
# The Django side here is Debian's real channels_redis (python3-channels-redis
# 4.0, RedisChannelLayer with its defaults), used the way a Django view, a
# Celery task or a consumer would: group_send, send, new_channel, group_add,
# receive. Both directions are checked against a real redis-server, layerd
# and gateway: Django's group_send and send reach Switchboard sockets, and a
# Switchboard client's message reaches a channels_redis channel in the same
# group. Bad messages in a gateway's inbox are dropped with a log line and
# never stop delivery.
import asyncio
import json
import unittest

from channels_redis.core import RedisChannelLayer

from harness import seed_view, ProcessTestCase, arun, await_until, recv_json, redis_cmd, send_msg, ws_connect


class DjangoBridge(ProcessTestCase):
    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways

    def layer(self):
        return RedisChannelLayer(hosts=[("127.0.0.1", self.c.redis.port)])

    async def members_of(self, room, n):
        await await_until(lambda: len(self.c.members(room)) == n, 10, f"{n} members in Redis for {room}")
        return self.c.members(room)

    def test_a_django_group_send_reaches_every_switchboard_member(self):
        async def body():
            a = await ws_connect(self.gwa, "lobby")
            b = await ws_connect(self.gwb, "lobby")
            other = await ws_connect(self.gwa, "elsewhere")
            await self.members_of("lobby", 2)
            layer = self.layer()
            await layer.group_send("chat_lobby", {"type": "chat.message", "message": "hi from django"})
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "hi from django"})
            self.assertEqual(seed_view(await recv_json(b, 10)), {"message": "hi from django"})
            with self.assertRaises(asyncio.TimeoutError):
                await recv_json(other, 1)
            # other event types reach the browser whole, type kept
            await layer.group_send("chat_lobby", {"type": "notify", "data": {"n": 1}})
            self.assertEqual(await recv_json(a, 10), {"type": "notify", "data": {"n": 1}})
            for ws in (a, b, other):
                await ws.close()
        arun(body(), 60)

    def test_a_django_send_to_one_channel_reaches_only_that_socket(self):
        async def body():
            a = await ws_connect(self.gwa, "lobby")
            b = await ws_connect(self.gwa, "lobby")
            members = await self.members_of("lobby", 2)
            layer = self.layer()
            # members[0] is one of the two sockets; exactly one of them must get it
            ta = asyncio.ensure_future(recv_json(a, 10))
            tb = asyncio.ensure_future(recv_json(b, 10))
            await layer.send(members[0], {"type": "chat.message", "message": "just you"})
            done, pending = await asyncio.wait([ta, tb], return_when=asyncio.FIRST_COMPLETED, timeout=12)
            self.assertEqual(len(done), 1, "exactly one socket receives a direct send")
            self.assertEqual(done.pop().result(), {"message": "just you"})
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            other = b if ta.done() and not ta.cancelled() else a
            with self.assertRaises(asyncio.TimeoutError):
                await recv_json(other, 1)
            for ws in (a, b):
                await ws.close()
        arun(body(), 60)

    def test_a_switchboard_message_reaches_a_channels_redis_consumer_in_the_group(self):
        async def body():
            layer = self.layer()
            django_channel = await layer.new_channel()
            await layer.group_add("chat_lobby", django_channel)
            a = await ws_connect(self.gwa, "lobby")
            await self.members_of("lobby", 2)
            await send_msg(a, "to django")
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "to django"})  # the sender too
            msg = await asyncio.wait_for(layer.receive(django_channel), 10)
            self.assertEqual(seed_view(msg), {"type": "chat.message", "message": "to django"})
            self.assertTrue(msg["user"]["guest"], "the sender, as the gateway stamped it")
            # and Django's own group_send reaches both the Switchboard socket and itself
            await layer.group_send("chat_lobby", {"type": "chat.message", "message": "round trip"})
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "round trip"})
            msg = await asyncio.wait_for(layer.receive(django_channel), 10)
            self.assertEqual(msg["message"], "round trip")
            await a.close()
        arun(body(), 60)

    def test_a_switchboard_socket_layerd_does_not_know_is_never_written_as_a_django_member(self):
        # A socket of a gateway this layerd has not heard from (yet: it said
        # HELLO to another layerd first, or it is gone) is in the group in
        # Redis. Its gateway's inbox is drained by whichever layerd knows it,
        # so writing the group_send there would deliver it twice.
        async def body():
            layer = self.layer()
            stranger = "specific.gwz.00112233aabbccdd!1f"
            await layer.group_add("chat_lobby", stranger)
            django_channel = await layer.new_channel()
            await layer.group_add("chat_lobby", django_channel)
            a = await ws_connect(self.gwa, "lobby")
            await self.members_of("lobby", 3)
            await send_msg(a, "once")
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "once"})
            msg = await asyncio.wait_for(layer.receive(django_channel), 10)
            self.assertEqual(msg["message"], "once")  # the Django member is still written
            self.assertEqual(redis_cmd(self.c.redis.port, "EXISTS", "asgispecific.gwz.00112233aabbccdd!"), 0)
            await a.close()
        arun(body(), 60)

    def test_a_django_consumer_joining_a_busy_group_gets_the_very_next_message(self):
        async def body():
            a = await ws_connect(self.gwa, "lobby")
            await self.members_of("lobby", 1)
            # the group is in use: layerd has already looked at its members
            for i in range(3):
                await send_msg(a, f"before {i}")
                self.assertEqual(seed_view(await recv_json(a, 10)), {"message": f"before {i}"})
            layer = self.layer()
            django_channel = await layer.new_channel()
            await layer.group_add("chat_lobby", django_channel)
            await send_msg(a, "right after the join")
            msg = await asyncio.wait_for(layer.receive(django_channel), 10)
            self.assertEqual(seed_view(msg), {"type": "chat.message", "message": "right after the join"})
            self.assertTrue(msg["user"]["guest"], "the sender, as the gateway stamped it")
            await a.close()
        arun(body(), 60)

    def test_a_burst_from_two_gateways_reaches_a_django_consumer_complete_and_in_order(self):
        # Sends that arrive while layerd is checking the group's membership
        # wait for the next check; none may be lost or reordered.
        per_sender = 40

        async def body():
            layer = self.layer()
            django_channel = await layer.new_channel()
            await layer.group_add("chat_lobby", django_channel)
            a = await ws_connect(self.gwa, "lobby")
            b = await ws_connect(self.gwb, "lobby")
            await self.members_of("lobby", 3)

            async def burst(ws, tag):
                for i in range(per_sender):
                    await send_msg(ws, f"{tag}{i}")
            await asyncio.gather(burst(a, "a"), burst(b, "b"))
            got = []
            for _ in range(2 * per_sender):
                got.append((await asyncio.wait_for(layer.receive(django_channel), 10))["message"])
            for tag in ("a", "b"):
                self.assertEqual([m for m in got if m[0] == tag], [f"{tag}{i}" for i in range(per_sender)])
            await a.close()
            await b.close()
        arun(body(), 60)

    def test_bad_messages_in_a_gateway_inbox_are_dropped_and_delivery_goes_on(self):
        async def body():
            a = await ws_connect(self.gwa, "lobby")
            members = await self.members_of("lobby", 1)
            inbox = "asgi" + members[0][: members[0].index("!") + 1]
            r = self.c.redis
            r.cmd("ZADD", inbox, "1", b"short")                                   # no 12-byte prefix
            r.cmd("ZADD", inbox, "2", b"x" * 12 + b"\xc1\xc1")                    # not msgpack
            r.cmd("ZADD", inbox, "3", b"y" * 12 + b"\x81\xa4type\xa1x")           # no __asgi_channel__
            r.cmd("ZADD", inbox, "4", b"z" * 12 + b"\x82\xa4type\xa1x\xb0__asgi_channel__\xa9plainchan")  # not ours
            await await_until(lambda: r.cmd("ZCARD", inbox) == 0, 10, "layerd drained the inbox")
            self.assertTrue(self.c.layerds[0].alive())
            await self.layer().group_send("chat_lobby", {"type": "chat.message", "message": "still works"})
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "still works"})
            log = self.c.layerds[0].log_text()
            self.assertIn("inbox message dropped", log)
            await a.close()
        arun(body(), 60)



class ChannelCapacity(ProcessTestCase):
    """layerd's --channel-capacity GLOB=N caps a Django inbox the way
    channels_redis' channel_capacity does: the first glob (fnmatch) that
    matches the inbox's first channel wins, else --capacity applies."""

    def test_each_django_inbox_is_capped_by_the_first_glob_its_channel_matches(self):
        c = self.start_cluster(layerds=1, gateways=1, layerd_args=[
            "--channel-capacity", "specific.*=2",          # a Django process' own channels
            "--channel-capacity", "work?r.[abc]*=3",       # ? and [...]
            "--channel-capacity", "work?r.[!abc]x=4",      # [!...]; the whole name must match
            "--capacity", "100"])
        sends = 6

        async def body():
            layer = RedisChannelLayer(hosts=[("127.0.0.1", c.redis.port)])
            process_channel = await layer.new_channel()
            for channel in (process_channel, "worker.batch", "worker.ox", "worker.other"):
                await layer.group_add("chat_lobby", channel)
            a = await ws_connect(c.gateways[0], "lobby")
            await await_until(lambda: len(c.members("lobby")) == 5, 10, "5 members of chat_lobby")
            for i in range(sends):
                await send_msg(a, f"m{i}")
                self.assertEqual(seed_view(await recv_json(a, 10)), {"message": f"m{i}"})
            # layerd writes every inbox of a send in one script, so once the
            # uncapped inbox holds all the sends every write has happened.
            await await_until(lambda: c.redis.cmd("ZCARD", "asgiworker.other") == sends, 10, "every send written")
            inboxes = {"asgi" + process_channel[: process_channel.index("!") + 1]: 2,
                       "asgiworker.batch": 3, "asgiworker.ox": 4, "asgiworker.other": sends}
            self.assertEqual({k: c.redis.cmd("ZCARD", k) for k in inboxes}, inboxes)
            await a.close()
        arun(body(), 60)


if __name__ == "__main__":
    unittest.main()
