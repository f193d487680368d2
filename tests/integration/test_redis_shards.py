# test_redis_shards.py — layerd, switchboard-cli and Django's channels_redis
# over TWO Redis servers, sharded by channels_redis' consistent hash.
#
# A Django project that lists two hosts in CHANNEL_LAYERS puts each group
# key on H(group) and each inbox on H(non-local name), and its send() to a
# process-specific channel on H(full name) (docs/django.md, "Several Redis
# hosts"). These tests run real redis-servers, layerd with both URLs, real
# gateways and Debian's real channels_redis with the same two hosts, and
# check every direction: Django group_send and send() reach Switchboard
# sockets (whichever shard the message lands on), Switchboard reaches a
# Django consumer, membership keys sit where channels_redis reads them,
# a restarted shard gets its memberships back, the CLI and /metrics know
# both hosts, and a bad URL among several is refused with a clear line.
import asyncio
import binascii
import re
import subprocess
import unittest

import websockets
from channels_redis.core import RedisChannelLayer

from harness import (seed_view, BIN_DIR, LAYERD_BIN, Clients, ProcessTestCase, arun, await_until, first_message,
                     free_port, http_request, recv_json, send_msg, wait_until)

CLI_BIN = BIN_DIR / "switchboard-cli"


def shard(name: str, n: int = 2) -> int:
    """channels_redis' consistent hash, as docs/django.md (Several Redis hosts) states it."""
    if n == 1:
        return 0
    return int((binascii.crc32(name.encode()) & 0xFFF) / (4096 / n))


def nonlocal_name(channel: str) -> str:
    return channel[: channel.index("!") + 1] if "!" in channel else channel


def room_on(n: int, prefix: str = "room") -> str:
    """A room whose group chat_<room> lives on shard n (of 2)."""
    for i in range(1000):
        if shard(f"chat_{prefix}{i}") == n:
            return f"{prefix}{i}"
    raise AssertionError("no room found")


class TwoShards(ProcessTestCase):
    def setUp(self):
        self.r = [self.start_redis(), self.start_redis()]
        self.urls = [r.url for r in self.r]

    def start_layerd2(self, extra_args=()):
        return self.start_layerd(self.urls[0], extra_args=["--redis", self.urls[1], *extra_args])

    def layer(self):
        """A Django-side layer with the same two hosts, in the same order."""
        return RedisChannelLayer(hosts=[("127.0.0.1", r.port) for r in self.r])

    def members(self, group: str, on: int):
        return [m.decode() for m in self.r[on].cmd("ZRANGE", f"asgi:group:{group}", 0, -1)]

    async def members_of(self, group: str, n: int):
        on = shard(group)
        await await_until(lambda: len(self.members(group, on)) == n, 10, f"{n} members of {group} on shard {on}")
        return self.members(group, on)

    def test_the_spec_hash_agrees_with_channels_redis_own(self):
        layer = self.layer()
        for name in ("chat_lobby", "chat_room1", "plainchan", "a", "test-group.1",
                     "specific.0f1e2d3c4b5a69788796a5b4c3d2e1f0!", "notification_x"):
            self.assertEqual(layer.consistent_hash(name), shard(name), name)

    def test_membership_keys_land_on_the_shard_channels_redis_uses(self):
        ld = self.start_layerd2()
        gw = self.start_gateway([ld.endpoint])
        rooms = [room_on(0), room_on(1)]

        async def body():
            async with Clients() as cl:
                for room in rooms:
                    await cl.connect(gw, room)
                for room in rooms:
                    group = f"chat_{room}"
                    on = shard(group)
                    await self.members_of(group, 1)
                    self.assertEqual(self.r[1 - on].cmd("EXISTS", f"asgi:group:{group}"), 0,
                                     f"{group} must not be written on shard {1 - on}")
                    self.assertGreater(self.r[on].cmd("TTL", f"asgi:group:{group}"), 0)
                # Django's group_add on the same group lands next to ours
                layer = self.layer()
                django_channel = await layer.new_channel()
                await layer.group_add(f"chat_{rooms[1]}", django_channel)
                self.assertIn(django_channel, self.members(f"chat_{rooms[1]}", 1))
        arun(body(), 60)

    async def sockets_on_both_inbox_shards(self, ld, connect, group: str, tries: int = 10):
        """{shard: (gateway, ws, channel)} for a socket in `group` (opened by
        connect(gateway)) whose gateway's inbox key hashes to each shard.
        Run ids are random, so gateways are started until both shards have
        one (bounded; the chance that 10 all land on one shard is 2**-9)."""
        found = {}
        seen = set()
        for i in range(tries):
            gw = self.start_gateway([ld.endpoint], id=f"gw{i}")
            ws = await connect(gw)
            await self.members_of(group, len(seen) + 1)
            channel = next(c for c in self.members(group, shard(group)) if c not in seen)
            seen.add(channel)
            found.setdefault(shard(nonlocal_name(channel)), (gw, ws, channel))
            if len(found) == 2:
                return found
        raise AssertionError(f"{tries} gateways all had their inbox on one shard")

    def test_a_django_group_send_reaches_sockets_whose_inboxes_are_on_either_shard(self):
        ld = self.start_layerd2()

        async def body():
            async with Clients() as cl:
                for room in (room_on(0), room_on(1)):  # the group key on each shard
                    found = await self.sockets_on_both_inbox_shards(
                        ld, lambda gw, room=room: cl.connect(gw, room), f"chat_{room}")
                    layer = self.layer()
                    await layer.group_send(f"chat_{room}", {"type": "chat.message", "message": f"to {room}"})
                    for on, (gw, ws, channel) in found.items():
                        got = await recv_json(ws, 10)
                        self.assertEqual(got, {"message": f"to {room}"}, f"inbox shard {on}")
                    await cl.close_all()
                    for p in [p for p in self._procs if p.name.startswith("gw")]:
                        p.stop()
        arun(body(), 120)

    def test_a_django_notify_is_kept_once_when_its_copies_come_from_inboxes_on_both_shards(self):
        ld = self.start_layerd2()
        center = "desk"
        group = f"notification_{center}"
        pending = self.r[shard(group)]

        async def body():
            async with Clients() as cl:
                async def connect(gw):
                    ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/notification/{center}/")
                    cl.sockets.append(ws)
                    return ws
                found = await self.sockets_on_both_inbox_shards(ld, connect, group)
                layer = self.layer()
                note = {"type": "notify", "data": {"n": 1}}
                # Each socket is on a gateway of its own, so a group_send
                # makes one copy per socket. On the pending key's shard Redis
                # then runs channels_redis' group_send script once (both
                # shards hold inboxes) and layerd's store script once per
                # copy: when that many EVALs have run, every copy was handled.
                copies = len(self.members(group, shard(group)))

                async def send_all_handled(times):
                    evals = pending.calls("EVAL") + times * (1 + copies)
                    for _ in range(times):
                        await layer.group_send(group, note)
                    await await_until(lambda: pending.calls("EVAL") >= evals, 10, "layerd's store of every copy")

                await send_all_handled(1)
                for on, (gw, ws, channel) in found.items():
                    self.assertEqual(await recv_json(ws, 10), note, f"inbox shard {on}")
                self.assertEqual(pending.cmd("ZCARD", f"asgi:pending:{group}"), 1, "one send, kept once")
                # the same notification twice in a row: two sends, both kept
                await send_all_handled(2)
                self.assertEqual(pending.cmd("ZCARD", f"asgi:pending:{group}"), 3)
                self.assertEqual(self.r[1 - shard(group)].cmd("EXISTS", f"asgi:pending:{group}"), 0)
                gw = next(iter(found.values()))[0]
                later = await connect(gw)
                self.assertEqual([await recv_json(later, 10) for _ in range(3)], [note] * 3)
                with self.assertRaises(asyncio.TimeoutError):
                    await recv_json(later, 1)
        arun(body(), 120)

    def test_a_django_send_to_one_socket_arrives_whichever_shard_its_full_name_hashes_to(self):
        ld = self.start_layerd2()
        gw = self.start_gateway([ld.endpoint])
        room = room_on(0)
        group = f"chat_{room}"

        async def body():
            async with Clients() as cl:
                sockets = [await cl.connect(gw, room) for _ in range(12)]
                channels = await self.members_of(group, len(sockets))
                layer = self.layer()
                same = [c for c in channels if layer.consistent_hash(c) == shard(nonlocal_name(c))]
                other = [c for c in channels if layer.consistent_hash(c) != shard(nonlocal_name(c))]
                self.assertTrue(same and other, "12 sockets cover both cases (chance to fail 2**-11)")
                for case, channel in (("H(full) == H(nl)", same[0]), ("H(full) != H(nl)", other[0])):
                    await layer.send(channel, {"type": "chat.message", "message": case})
                    got = await asyncio.wait_for(first_message(sockets), 10)
                    self.assertEqual(got, {"message": case}, case)
                    # only one socket got it
                    self.assertIsNone(await first_message(sockets, timeout=0.5))
        arun(body(), 60)

    def test_a_switchboard_message_reaches_django_consumers_whose_inboxes_are_on_either_shard(self):
        ld = self.start_layerd2()
        gw = self.start_gateway([ld.endpoint])

        async def body():
            # one Django process (layer) per inbox shard
            layers = {}
            for _ in range(64):
                layer = self.layer()
                channel = await layer.new_channel()
                layers.setdefault(shard(nonlocal_name(channel)), (layer, channel))
                if len(layers) == 2:
                    break
            self.assertEqual(len(layers), 2)
            async with Clients() as cl:
                for room in (room_on(0), room_on(1)):
                    group = f"chat_{room}"
                    for layer, channel in layers.values():
                        await layer.group_add(group, channel)
                    ws = await cl.connect(gw, room)
                    await self.members_of(group, 3)
                    await send_msg(ws, f"hello {room}")
                    self.assertEqual(seed_view(await recv_json(ws, 10)), {"message": f"hello {room}"})
                    for on, (layer, channel) in layers.items():
                        msg = await asyncio.wait_for(layer.receive(channel), 10)
                        self.assertEqual(seed_view(msg), {"type": "chat.message", "message": f"hello {room}"},
                                         f"Django inbox on shard {on}")
                    # and the inbox key was written where channels_redis polls it
                    for on, (layer, channel) in layers.items():
                        self.assertEqual(self.r[1 - on].cmd("EXISTS", "asgi" + nonlocal_name(channel)), 0)
        arun(body(), 60)

    def test_a_restarted_shard_gets_its_memberships_back(self):
        ld = self.start_layerd2()
        gw = self.start_gateway([ld.endpoint])
        rooms = [room_on(0), room_on(1)]

        async def body():
            async with Clients() as cl:
                sockets = [await cl.connect(gw, room) for room in rooms]
                for room in rooms:
                    await self.members_of(f"chat_{room}", 1)
                self.r[1].stop()
                self.r[1].start()  # empty: no persistence
                await self.members_of(f"chat_{rooms[1]}", 1)
                await self.members_of(f"chat_{rooms[0]}", 1)  # untouched on shard 0
                # and Django's group_send on the restarted shard reaches the socket
                await self.layer().group_send(f"chat_{rooms[1]}", {"type": "chat.message", "message": "back"})
                self.assertEqual(seed_view(await recv_json(sockets[1], 15)), {"message": "back"})
        arun(body(), 90)
        self.assertIn("redis membership written shards=1", ld.log_text())

    def test_metrics_show_each_shard_and_stay_valid_prometheus_text(self):
        mport = free_port()
        ld = self.start_layerd2(["--metrics-listen", f"127.0.0.1:{mport}"])

        def scrape():
            status, headers, body = http_request(mport, "GET", "/metrics", timeout=5)
            self.assertEqual(status, 200)
            return body.decode()

        wait_until(lambda: 'switchboard_layerd_redis_up 1' in scrape(), 10, "both shards connected")
        text = scrape()
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? [-+0-9.eEInfa]+$')
        families = set()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                name = line.split()[2]
                self.assertNotIn(name, families, f"family {name} declared twice")
                families.add(name)
            elif line and not line.startswith("#"):
                self.assertRegex(line, sample)
        self.assertIn("switchboard_layerd_redis_shards 2", text)
        for i, r in enumerate(self.r):
            self.assertIn(f'switchboard_layerd_redis_shard_up{{shard="{i}",address="127.0.0.1:{r.port}/0"}} 1',
                          text)
        self.assertRegex(text, r'switchboard_layerd_redis_shard_rtt_milliseconds\{shard="1",[^}]*\} ')
        self.r[1].stop()
        wait_until(lambda: 'switchboard_layerd_redis_up 0' in scrape(), 10, "shard 1 down")
        self.assertIn(f'switchboard_layerd_redis_shard_up{{shard="1",address="127.0.0.1:{self.r[1].port}/0"}} 0',
                      scrape())
        self.assertIn(f'switchboard_layerd_redis_shard_up{{shard="0",address="127.0.0.1:{self.r[0].port}/0"}} 1',
                      scrape())
        self.assertTrue(ld.alive())

    def cli(self, *args):
        opts = ["--redis", self.urls[0], "--redis", self.urls[1], "--timeout-ms", "3000"]
        return subprocess.run([str(CLI_BIN), *opts, *args], capture_output=True, text=True, timeout=15,
                              stdin=subprocess.DEVNULL, start_new_session=True)

    def test_the_cli_reads_and_writes_each_group_on_its_shard(self):
        groups = [f"chat_{room_on(0)}", f"chat_{room_on(1)}"]
        for g in groups:
            r = self.cli("group-add", g, "worker.thumbnails")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.members(g, shard(g)), ["worker.thumbnails"])
            self.assertEqual(self.r[1 - shard(g)].cmd("EXISTS", f"asgi:group:{g}"), 0)
            r = self.cli("members", g)
            self.assertEqual((r.returncode, r.stdout), (0, "worker.thumbnails\n"), r.stderr)
        r = self.cli("groups")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.splitlines()), sorted(f"{g} 1" for g in groups))
        # a key on the wrong host (another --redis list wrote it) is pointed out, not listed
        stray = groups[0]
        self.r[1 - shard(stray)].cmd("ZADD", f"asgi:group:{stray}", "1", "x")
        r = self.cli("groups")
        self.assertEqual(sorted(r.stdout.splitlines()), sorted(f"{g} 1" for g in groups))
        self.assertIn("skipped 1 group key(s) on a Redis host", r.stderr)
        r = self.cli("group-discard", groups[1], "worker.thumbnails")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.r[shard(groups[1])].cmd("EXISTS", f"asgi:group:{groups[1]}"), 0)

    def test_a_bad_url_among_several_is_refused_with_a_line_that_names_it(self):
        for argv, bin_ in (([LAYERD_BIN, "--bind", f"tcp://127.0.0.1:{free_port()}"], "switchboard-layerd"),
                           ([CLI_BIN, "groups"], "switchboard-cli")):
            for bad, why in (("redis://127.0.0.1:99999/0", "bad port"), ("unix:///tmp/r.sock", "redis://"),
                             ("redis://:pw@127.0.0.1:1/x", "bad database")):
                r = subprocess.run([str(argv[0]), *map(str, argv[1:]), "--redis", self.urls[0], "--redis", bad],
                                   capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 2, f"{bin_} {bad}: {r.stderr}")
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("--redis: redis URL #2", lines[0])
                self.assertIn(why, lines[0])
                self.assertNotIn("pw", lines[0], "a password is never echoed")


if __name__ == "__main__":
    unittest.main()
