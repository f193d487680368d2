# test_django_daphne.py — Switchboard and the real Django stack in one room.
#
# The Django side is Debian's own packages, unmodified: Django 3.2, Channels
# 4.0, channels_redis 4.0 and daphne 4.0 (run as `/usr/bin/python3 -m
# daphne`), serving tests/django_app — the tutorial's async ChatConsumer at
# ws/chat/<room>/, exactly as in the seed, on a RedisChannelLayer. Each test
# starts its own redis-server, one layerd and one gateway (harness.py), then
# one daphne on a free loopback port against the SAME Redis, and checks that
# a browser on daphne and a browser on the gateway chat in one room:
#   1. each side's messages reach the other side (and each sender's echo);
#   2. `manage.py send_to_group` (channels_redis group_send from a plain
#      Django process) reaches both;
#   3. several messages from each side keep each sender's order everywhere.
# daphne is a harness Process: its own process group, killed in cleanup
# (SIGTERM, then SIGKILL), its log printed with the others on failure.
#
# The seed's consumer group_sends {"type": "chat_message", ...}; Channels
# treats that as the same event as "chat.message" (both dispatch to
# chat_message), and so does the gateway: every check here wants the seed's
# {"message": m} frame (test 9 says so on its own).
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import unittest

import websockets

from harness import (seed_view, REPO, Process, ProcessTestCase, arun, await_until, channel_re, free_port,
                     group_key, http_request, recv_json, send_msg, wait_until, ws_connect)

PY = "/usr/bin/python3"  # Debian's python: it has the python3-django* packages
DJANGO_APP = REPO / "tests" / "django_app"
DAPHNE_START_TIMEOUT = 20.0
MANAGE_TIMEOUT = 30.0
RECV_TIMEOUT = 5.0  # per message; Switchboard -> Django may wait for layerd's foreign refresh
ROOM = "lobby"
GROUP = "chat_lobby"
TEST_TIMEOUT = 40.0


def django_env(redis_port: int) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SB_REDIS_HOST": "127.0.0.1",
        "SB_REDIS_PORT": str(redis_port),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


class Daphne(Process):
    """`python3 -m daphne` serving tests/django_app on 127.0.0.1:<free port>."""

    def __init__(self, redis_port: int, workdir):
        self.port = free_port()
        self.env = django_env(redis_port)
        self.env["PYTHONPATH"] = str(DJANGO_APP)
        self.cwd = str(REPO)
        super().__init__("daphne", [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", self.port,
                                    "chatsite.asgi:application"], workdir)

    def start(self):
        self.spawn()

        def ready():
            # Django itself answers (404: the app has no HTTP routes), so the
            # ASGI application is loaded, not only the port bound.
            self.check_alive("its first HTTP answer")
            try:
                return http_request(self.port, "GET", "/", timeout=1.0)[0] == 404
            except OSError:
                return False
        wait_until(ready, DAPHNE_START_TIMEOUT, f"daphne on port {self.port}")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM, timeout=3.0)  # SIGKILL to the group after 3 s

    def ws_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/{room}/"


def chat_text(frame, django_type_ok: bool = False) -> str:
    """The text of a chat frame in the seed's form {"message": m} (with
    django_type_ok, also {"type": "chat_message", "message": m}; no check
    here uses that any more)."""
    frame = seed_view(frame)
    if isinstance(frame, dict) and set(frame) == {"message"} and isinstance(frame["message"], str):
        return frame["message"]
    if (django_type_ok and isinstance(frame, dict) and set(frame) == {"type", "message"}
            and frame["type"] == "chat_message" and isinstance(frame["message"], str)):
        return frame["message"]
    raise AssertionError(f"not a chat frame: {frame!r}")


async def recv_texts(ws, n: int, django_type_ok: bool = False, timeout: float = 10.0):
    """Exactly n chat texts, in arrival order, all within timeout."""
    got = []

    async def body():
        for _ in range(n):
            got.append(chat_text(await recv_json(ws, timeout), django_type_ok))
    try:
        await asyncio.wait_for(body(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s with {len(got)} of {n} messages: {got!r}")
    return got


async def expect_silence(ws, seconds: float):
    try:
        frame = await recv_json(ws, seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected frame {frame!r}")


class DjangoDaphne(ProcessTestCase):
    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=1)
        self.gw = self.c.gateways[0]
        self.daphne = self.own(Daphne(self.c.redis.port, self.workdir)).start()
        self.gw_member = channel_re(self.gw.id)
        self.sockets = []

    async def connect_both(self):
        """One client on the gateway, one on daphne, both in ROOM; returns once
        Redis holds exactly one member of each side in the group (so layerd's
        first read of the group's Django members sees daphne's consumer)."""
        sb = await ws_connect(self.gw, ROOM)
        self.sockets.append(sb)
        dj = await websockets.connect(self.daphne.ws_url(ROOM), open_timeout=10,
                                      ping_interval=None, close_timeout=2)
        self.sockets.append(dj)

        def both_members():
            members = [m.decode() for m in self.c.redis.cmd("ZRANGE", group_key(ROOM), 0, -1)]
            ours = [m for m in members if self.gw_member.match(m)]
            django = [m for m in members if re.match(r"^specific\.[0-9a-f]+![0-9a-f]+$", m)
                      and not self.gw_member.match(m)]
            return len(members) == 2 and len(ours) == 1 and len(django) == 1 and members
        await await_until(both_members, 10, f"one gateway and one daphne member in {GROUP}")
        return sb, dj

    async def close_all(self):
        socks, self.sockets = self.sockets, []
        if socks:
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in socks), return_exceptions=True), 10)

    def run_body(self, coro_fn):
        async def wrapper():
            try:
                await coro_fn()
            finally:
                await self.close_all()
        arun(wrapper(), TEST_TIMEOUT)

    # ------------------------------------------------------------------

    def test_1_clients_on_daphne_and_on_the_gateway_chat_both_ways(self):
        async def body():
            sb, dj = await self.connect_both()

            # Switchboard -> Django (the first group_send of the group: layerd
            # reads its Django members from Redis then).
            await send_msg(sb, "from-switchboard")
            self.assertEqual(seed_view(await recv_json(sb, RECV_TIMEOUT)), {"message": "from-switchboard"})
            self.assertEqual(seed_view(await recv_json(dj, RECV_TIMEOUT)), {"message": "from-switchboard"})

            # Django -> Switchboard: the seed's consumer group_sends it.
            await send_msg(dj, "from-django")
            self.assertEqual(seed_view(await recv_json(dj, RECV_TIMEOUT)), {"message": "from-django"})
            self.assertEqual(chat_text(await recv_json(sb, RECV_TIMEOUT), django_type_ok=False),
                             "from-django")

            # and nothing else arrives on either side
            await asyncio.gather(expect_silence(sb, 0.5), expect_silence(dj, 0.5))
        self.run_body(body)

    def test_2_manage_py_send_to_group_reaches_both_sides(self):
        async def body():
            sb, dj = await self.connect_both()
            proc = await asyncio.create_subprocess_exec(
                PY, "tests/django_app/manage.py", "send_to_group", GROUP, "hello-from-manage",
                cwd=str(REPO), env=django_env(self.c.redis.port),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), MANAGE_TIMEOUT)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 5)
                raise AssertionError(f"manage.py send_to_group did not finish in {MANAGE_TIMEOUT}s")
            self.assertEqual(proc.returncode, 0, f"manage.py send_to_group failed:\n{out.decode(errors='replace')}")
            want = {"message": "hello-from-manage"}
            got_sb, got_dj = await asyncio.gather(recv_json(sb, RECV_TIMEOUT), recv_json(dj, RECV_TIMEOUT))
            self.assertEqual(got_sb, want)
            self.assertEqual(got_dj, want)
            await asyncio.gather(expect_silence(sb, 0.5), expect_silence(dj, 0.5))
        self.run_body(body)

    def test_3_each_senders_order_is_kept_on_both_sides(self):
        n = 12

        async def body():
            sb, dj = await self.connect_both()
            sb_msgs = [f"sb-{i:02d}" for i in range(n)]
            dj_msgs = [f"dj-{i:02d}" for i in range(n)]
            # Interleaved, without waiting for anything: both streams are in flight at once.
            for a, b in zip(sb_msgs, dj_msgs):
                await send_msg(sb, a)
                await send_msg(dj, b)
            at_sb, at_dj = await asyncio.gather(
                recv_texts(sb, 2 * n, django_type_ok=False, timeout=15),
                recv_texts(dj, 2 * n, timeout=15))
            for side, got in (("switchboard client", at_sb), ("django client", at_dj)):
                self.assertCountEqual(got, sb_msgs + dj_msgs, f"{side} got {got}")
                self.assertEqual([m for m in got if m.startswith("sb-")], sb_msgs,
                                 f"Switchboard sender's order at the {side}: {got}")
                self.assertEqual([m for m in got if m.startswith("dj-")], dj_msgs,
                                 f"Django sender's order at the {side}: {got}")
            await asyncio.gather(expect_silence(sb, 0.5), expect_silence(dj, 0.5))
        self.run_body(body)

    def test_9_a_django_typed_message_reaches_switchboard_in_the_seed_form(self):
        # The seed's ChatConsumer group_sends {"type": "chat_message", ...}. Every
        # Django client gets {"message": m} for it, and so does a Switchboard client
        # (Channels maps both "chat.message" and "chat_message" to chat_message).
        async def body():
            sb, dj = await self.connect_both()
            await send_msg(dj, "typed-on-django")
            self.assertEqual(seed_view(await recv_json(dj, RECV_TIMEOUT)), {"message": "typed-on-django"})
            self.assertEqual(seed_view(await recv_json(sb, RECV_TIMEOUT)), {"message": "typed-on-django"})
        self.run_body(body)


if __name__ == "__main__":
    unittest.main()
