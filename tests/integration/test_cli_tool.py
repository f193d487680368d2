# test_cli_tool.py — switchboard-cli against real processes.
#
# The CLI is how a script, a cron job or an admin publishes to Switchboard
# without Django, so these tests use it exactly that way (a subprocess with
# arguments, stdin and an exit code) against a real redis-server, one
# layerd and one gateway, with WebSocket clients on the receiving end and
# Debian's channels_redis as the Django side. Exit codes are the contract:
# 0 done, 1 layerd/Redis unreachable or refused, 2 the caller's mistake.
# Every subprocess has a timeout and every wait a deadline.
import asyncio
import json
import subprocess
import time
import unittest

import msgpack
import zmq
from channels_redis.core import RedisChannelLayer

from harness import (BIN_DIR, Clients, ProcessTestCase, arun, await_until, free_port,
                     recv_json, scrape_metrics)

CLI_BIN = BIN_DIR / "switchboard-cli"


def run_cli(*args, stdin: str = None, timeout: float = 15):
    if not CLI_BIN.exists():
        raise AssertionError(f"binary not found: {CLI_BIN} (set SB_BIN_DIR)")
    return subprocess.run([str(CLI_BIN), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def nonempty_lines(s: str):
    return [l for l in s.splitlines() if l.strip()]


class CliWithACluster(ProcessTestCase):
    """One Redis, one layerd, one gateway; the CLI pointed at them."""

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=1)
        self.gw = self.c.gateways[0]

    def cli(self, *args, stdin: str = None, prefix: str = None):
        opts = ["--layerd", self.c.layerds[0].endpoint, "--redis", self.c.redis.url, "--timeout-ms", "3000"]
        if prefix:
            opts += ["--prefix", prefix]
        return run_cli(*opts, *args, stdin=stdin)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, f"stdout={r.stdout!r} stderr={r.stderr!r}")
        return r

    async def members_of(self, room: str, n: int):
        await await_until(lambda: len(self.c.members(room)) == n, 10, f"{n} members in Redis for {room}")
        return self.c.members(room)


class Publishing(CliWithACluster):

    def test_a_chat_message_group_send_reaches_every_member_as_the_seed_frame(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gw, "lobby")
                b = await cl.connect(self.gw, "lobby")
                other = await cl.connect(self.gw, "elsewhere")
                self.assert_ok(self.cli("group-send", "chat_lobby",
                                        json.dumps({"type": "chat.message", "message": "from cron"})))
                for ws in (a, b):
                    self.assertEqual(await recv_json(ws, 5), {"message": "from cron"})
                with self.assertRaises(asyncio.TimeoutError):
                    await recv_json(other, 1)
        arun(body(), 60)

    def test_another_event_type_arrives_as_the_event_json(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gw, "lobby")
                b = await cl.connect(self.gw, "lobby")
                self.assert_ok(self.cli("group-send", "chat_lobby", '{"type":"notify","data":{"n":1}}'))
                for ws in (a, b):
                    self.assertEqual(await recv_json(ws, 5), {"type": "notify", "data": {"n": 1}})
        arun(body(), 60)

    def test_an_event_read_from_stdin_is_sent(self):
        big = "x" * 100_000  # more than is comfortable on a command line
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gw, "lobby")
                self.assert_ok(self.cli("group-send", "chat_lobby", "-",
                                        stdin=json.dumps({"type": "chat.message", "message": big})))
                self.assertEqual(await recv_json(a, 5), {"message": big})
        arun(body(), 60)

    def test_send_reaches_only_the_channel_it_names(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gw, "lobby")
                (chan_a,) = await self.members_of("lobby", 1)
                b = await cl.connect(self.gw, "lobby")
                await self.members_of("lobby", 2)
                self.assert_ok(self.cli("send", chan_a, '{"type":"chat.message","message":"just you"}'))
                self.assertEqual(await recv_json(a, 5), {"message": "just you"})
                # A group_send after it travels the same path (layerd -> gateway), so b's
                # next frame being the marker shows the direct send never reached b.
                self.assert_ok(self.cli("group-send", "chat_lobby", '{"type":"chat.message","message":"marker"}'))
                self.assertEqual(await recv_json(b, 5), {"message": "marker"})
                self.assertEqual(await recv_json(a, 5), {"message": "marker"})
        arun(body(), 60)

    def test_send_to_an_unknown_channel_exits_1_with_layerds_no_route(self):
        r = self.cli("send", "specific.nosuchgw.0123456789abcdef!1", '{"type":"chat.message","message":"x"}')
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no_route", r.stderr)
        self.assertEqual(len(nonempty_lines(r.stderr)), 1, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_a_group_send_reaches_a_django_consumer_added_with_group_add(self):
        async def body():
            layer = RedisChannelLayer(hosts=[("127.0.0.1", self.c.redis.port)])
            django_channel = await layer.new_channel()
            self.assert_ok(self.cli("group-add", "cli_django", django_channel))
            self.assert_ok(self.cli("group-send", "cli_django", '{"type":"notify","data":{"n":2}}'))
            msg = await asyncio.wait_for(layer.receive(django_channel), 10)
            self.assertEqual(msg, {"type": "notify", "data": {"n": 2}})
        arun(body(), 60)


class Membership(CliWithACluster):

    def test_group_add_members_group_discard_and_groups_round_trip(self):
        chan = "specific.djangoproc!abc123"
        key = "asgi:group:cli_room"
        self.assert_ok(self.cli("group-add", "cli_room", chan))
        # channels_redis' layout: score = join time, TTL = group expiry
        zs = self.c.redis.cmd("ZRANGE", key, 0, -1, "WITHSCORES")
        self.assertEqual(zs[0].decode(), chan)
        self.assertLess(abs(float(zs[1]) - time.time()), 120)
        ttl = self.c.redis.cmd("TTL", key)
        self.assertGreater(ttl, 86000)
        self.assertLessEqual(ttl, 86400)

        self.assertEqual(self.assert_ok(self.cli("members", "cli_room")).stdout.splitlines(), [chan])
        self.assert_ok(self.cli("group-add", "cli_room", "specific.djangoproc!def456"))
        self.assert_ok(self.cli("group-add", "cli_other", chan))
        groups = self.assert_ok(self.cli("groups")).stdout.splitlines()
        self.assertIn("cli_room 2", groups)
        self.assertIn("cli_other 1", groups)

        self.assert_ok(self.cli("group-discard", "cli_room", chan))
        self.assertEqual(self.assert_ok(self.cli("members", "cli_room")).stdout.splitlines(),
                         ["specific.djangoproc!def456"])
        self.assert_ok(self.cli("group-discard", "cli_room", "specific.djangoproc!def456"))
        r = self.cli("members", "cli_room")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no such group", r.stderr)
        self.assertEqual(r.stdout, "")
        groups = self.assert_ok(self.cli("groups")).stdout.splitlines()
        self.assertNotIn("cli_room", [g.split()[0] for g in groups])
        self.assertIn("cli_other 1", groups)
        # discarding a channel that is not a member is not an error (as in channels_redis)
        self.assert_ok(self.cli("group-discard", "cli_room", chan))

    def test_live_switchboard_members_are_listed(self):
        async def body():
            async with Clients() as cl:
                await cl.connect(self.gw, "lobby")
                await cl.connect(self.gw, "lobby")
                members = await self.members_of("lobby", 2)
                out = self.assert_ok(self.cli("members", "chat_lobby")).stdout.splitlines()
                self.assertEqual(sorted(out), sorted(members))
                self.assertIn("chat_lobby 2", self.assert_ok(self.cli("groups")).stdout.splitlines())
        arun(body(), 60)

    def test_the_prefix_option_selects_the_key_prefix(self):
        self.assert_ok(self.cli("group-add", "g1", "specific.x!1", prefix="other"))
        self.assertEqual(self.c.redis.cmd("ZCARD", "other:group:g1"), 1)
        self.assertEqual(self.c.redis.cmd("EXISTS", "asgi:group:g1"), 0)
        self.assertEqual(self.assert_ok(self.cli("groups", prefix="other")).stdout.splitlines(), ["g1 1"])
        self.assertNotIn("g1 1", self.assert_ok(self.cli("groups")).stdout.splitlines())
        self.assertEqual(self.cli("members", "g1").returncode, 1)


class ClientsAreNotGateways(ProcessTestCase):
    """The CLI says HELLO as a client: layerd neither counts it as a gateway
    nor logs it joining and expiring."""

    def test_a_cli_run_leaves_no_gateway_in_layerds_log_or_metrics(self):
        mport = free_port()
        # A short timeout so the CLI's clients are forgotten within the test;
        # the gateway beats well inside it (its default beat is 1000 ms, which
        # would sit right at the limit).
        c = self.start_cluster(layerds=1, gateways=1, gateway_args=["--heartbeat-ms", "200"],
                               layerd_args=["--metrics-listen", f"127.0.0.1:{mport}", "--gateway-timeout-ms", "1000"])
        ld = c.layerds[0]

        def metrics():
            return scrape_metrics(mport)

        def clients_forgotten():
            m = metrics()
            return m if m["switchboard_layerd_clients"] == 0 else None

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(c.gateways[0], "lobby")
                for i in range(3):
                    r = run_cli("--layerd", ld.endpoint, "--redis", c.redis.url, "group-send", "chat_lobby",
                                json.dumps({"type": "chat.message", "message": f"cron {i}"}))
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(await recv_json(ws, 5), {"message": f"cron {i}"})
                m = metrics()
                self.assertEqual(m["switchboard_layerd_gateways"], 1, "only the real gateway")
                self.assertEqual(m["switchboard_layerd_clients_total"], 3)
                # past --gateway-timeout-ms the clients are forgotten, quietly
                m = await await_until(clients_forgotten, 10, "layerd to forget the CLI's clients")
                # the same sweep kept the real gateway, which beats every 200 ms
                self.assertEqual(m["switchboard_layerd_gateways"], 1)
                self.assertEqual(m["switchboard_layerd_gateways_expired_total"], 0)
                # the real gateway still works
                r = run_cli("--layerd", ld.endpoint, "group-send", "chat_lobby",
                            json.dumps({"type": "chat.message", "message": "still"}))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(await recv_json(ws, 5), {"message": "still"})
        arun(body(), 60)
        log = ld.log_text()
        self.assertEqual(log.count("gateway joined"), 1, "only the real gateway joined")
        self.assertNotIn("gateway expired", log)
        self.assertNotIn("gateway=cli.", log)
        self.assertIn("client joined peer=cli.", log)  # at debug level

    def test_a_client_cannot_join_groups(self):
        c = self.start_cluster(layerds=1, gateways=0)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        self.addCleanup(ctx.term)
        self.addCleanup(sock.close, 0)
        sock.setsockopt(zmq.IDENTITY, b"cli.0123456789abcdef")
        sock.connect(c.layerds[0].endpoint)
        sock.send_multipart([bytes([1]), msgpack.packb([1, 1, "cli.0123456789abcdef", 1])])
        self.assertTrue(sock.poll(5000))
        self.assertEqual(sock.recv_multipart()[0], bytes([2]))  # WELCOME
        sock.send_multipart([bytes([3]), msgpack.packb([7, "chat_lobby", "specific.cli.0123456789abcdef!1"])])
        self.assertTrue(sock.poll(5000))
        kind, body = sock.recv_multipart()
        self.assertEqual(kind, bytes([9]))  # ERROR
        request, code, text = msgpack.unpackb(body)
        self.assertEqual((request, code), (7, "bad_message"))
        self.assertIn("only gateways join groups", text)
        self.assertEqual(c.redis.cmd("EXISTS", "asgi:group:chat_lobby"), 0)
        # an unknown role is refused as a malformed HELLO
        sock.send_multipart([bytes([1]), msgpack.packb([1, 1, "cli.0123456789abcdef", 9])])
        self.assertTrue(sock.poll(5000))
        kind, body = sock.recv_multipart()
        self.assertEqual(kind, bytes([9]))
        self.assertEqual(msgpack.unpackb(body)[1], "bad_message")


class BadInput(ProcessTestCase):
    """Exit codes and one clear line for every kind of mistake. The input
    checks point at a port nothing listens on, so a check that ran after
    connecting would show up as exit 1, not 2."""

    def setUp(self):
        self.nowhere = ["--layerd", f"tcp://127.0.0.1:{free_port()}",
                        "--redis", f"redis://127.0.0.1:{free_port()}/0", "--timeout-ms", "500"]

    def check(self, args, code, stdin=None, expect=None):
        with self.subTest(args=[a[:60] for a in args]):
            t0 = time.monotonic()
            r = run_cli(*self.nowhere, *args, stdin=stdin)
            self.assertEqual(r.returncode, code, r.stderr)
            self.assertEqual(r.stdout, "")
            lines = nonempty_lines(r.stderr)
            self.assertTrue(lines, "no error message")
            self.assertEqual(len(lines), 1, r.stderr)
            if expect:
                self.assertIn(expect, r.stderr)
            self.assertLess(time.monotonic() - t0, 5, "a bad input or an unreachable peer must not hang")

    def test_bad_events_exit_2(self):
        self.check(["group-send", "chat_lobby", "{not json"], 2, expect="not valid JSON")
        self.check(["group-send", "chat_lobby", "[1, 2]"], 2, expect="object")
        self.check(["group-send", "chat_lobby", '"just a string"'], 2, expect="object")
        self.check(["group-send", "chat_lobby", '{"message": "no type"}'], 2, expect="type")
        self.check(["group-send", "chat_lobby", '{"type": 7}'], 2, expect="type")
        self.check(["send", "specific.gw.0123456789abcdef!1", "{"], 2, expect="not valid JSON")
        self.check(["group-send", "chat_lobby", "[" * 40 + "]" * 40], 2)

    def test_an_event_over_one_mebibyte_exits_2(self):
        event = json.dumps({"type": "chat.message", "message": "x" * (1 << 20)})
        self.check(["group-send", "chat_lobby", "-"], 2, stdin=event, expect="too large")

    def test_bad_names_exit_2(self):
        self.check(["group-send", "bad group!", '{"type":"x"}'], 2, expect="invalid group name")
        self.check(["group-send", "g" * 100, '{"type":"x"}'], 2, expect="invalid group name")
        self.check(["send", "bad channel", '{"type":"x"}'], 2, expect="invalid channel name")
        self.check(["group-add", "ok_group", "no spaces please"], 2, expect="invalid channel name")
        self.check(["group-add", "bad/group", "specific.x!1"], 2, expect="invalid group name")
        self.check(["group-discard", "bad group", "specific.x!1"], 2, expect="invalid group name")
        self.check(["members", "bad*group"], 2, expect="invalid group name")

    def test_usage_mistakes_exit_2(self):
        r = run_cli("frob", timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown command", r.stderr)
        self.assertIn("Usage:", r.stderr)
        r = run_cli(timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("Usage:", r.stderr)
        self.check(["group-send", "chat_lobby"], 2, expect="usage")
        self.check(["members"], 2, expect="usage")
        self.check(["groups", "extra"], 2, expect="usage")
        self.check(["--definitely-not-an-option", "groups"], 2)
        self.check(["--timeout-ms", "soon", "groups"], 2)
        self.check(["--redis", "http://nope", "groups"], 2)

    def test_help_lists_every_command_and_option(self):
        r = run_cli("--help", timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        for word in ("group-send", "send", "group-add", "group-discard", "groups", "members",
                     "--layerd", "--redis", "--prefix", "--timeout-ms"):
            self.assertIn(word, r.stdout)

    def test_an_unreachable_layerd_exits_1(self):
        self.check(["group-send", "chat_lobby", '{"type":"chat.message","message":"x"}'], 1,
                   expect="did not answer")
        self.check(["send", "specific.gw.0123456789abcdef!1", '{"type":"x"}'], 1, expect="did not answer")

    def test_an_unreachable_redis_exits_1(self):
        for args in (["group-add", "g", "specific.x!1"], ["group-discard", "g", "specific.x!1"],
                     ["groups"], ["members", "g"]):
            self.check(args, 1, expect="Redis")


if __name__ == "__main__":
    unittest.main()
