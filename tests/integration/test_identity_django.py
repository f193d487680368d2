# Identity with Django (docs/django.md, Identity), against real processes:
# a Django process (tests/django_app, database mode with a real user)
# mints tokens with switchboard_django.token_for, and a gateway with the
# same secret takes them; the user it names is stamped on every message.
import json
import subprocess

import websockets

from harness import BIN_DIR, Gateway, ProcessTestCase, arun, handshake_status, recv_json, send_msg, await_until
from harness_django import Runworker, django_env, login_cookie, manage

SECRET = "django-identity-test-secret-0123456789"


class TokenFor(ProcessTestCase):

    def setUp(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, id="layerd0")
        secret_file = self.workdir / "jwt.secret"
        secret_file.write_text(SECRET + "\n")
        self.gw = self.own(Gateway([ld.endpoint], id="gwd", workdir=self.workdir,
                                   extra_args=["--jwt-secret-file", str(secret_file)])).start()
        self.layerd = ld
        self.env = django_env(redis.port, db_dir=self.workdir)
        self.env["SB_JWT_SECRET"] = SECRET
        login_cookie(self.env)  # migrates and creates alice

    def token(self, *args):
        return manage(self.env, "sb_token", "alice", *args).strip()

    def url(self, room, token):
        return f"ws://127.0.0.1:{self.gw.port}/ws/chat/{room}/?token={token}"

    def test_a_token_minted_by_django_opens_its_rooms_with_the_user_stamped(self):
        token = self.token("--rooms", "lobby", "team_*", "--ttl", "300", "--first-name", "Alice")

        async def body():
            a = await websockets.connect(self.url("lobby", token), open_timeout=10, ping_interval=None)
            try:
                await send_msg(a, "hello")
                got = await recv_json(a)
                self.assertEqual(got["message"], "hello")
                self.assertEqual(got["user"]["name"], "Alice", "the full name")
                self.assertRegex(got["user"]["id"], r"^[0-9]+$", "the user's pk")
                self.assertNotIn("guest", got["user"])
            finally:
                await a.close()
            self.assertEqual(await handshake_status(self.url("team_red", token)), 101)
            self.assertEqual(await handshake_status(self.url("elsewhere", token)), 403)
        arun(body(), 60)

    def test_without_a_full_name_the_name_is_the_username_and_no_rooms_means_every_room(self):
        token = self.token("--ttl", "300")

        async def body():
            a = await websockets.connect(self.url("anywhere", token), open_timeout=10, ping_interval=None)
            try:
                await send_msg(a, "x")
                self.assertEqual((await recv_json(a))["user"]["name"], "alice")
            finally:
                await a.close()
        arun(body(), 60)

    def test_a_django_with_another_secret_is_refused(self):
        self.env["SB_JWT_SECRET"] = SECRET + "-other"
        self.assertEqual(arun(handshake_status(self.url("lobby", self.token())), 30), 403)


class DjangoGate(ProcessTestCase):
    """`chat auth=django:authchat`: the test app's AuthChatConsumer (the
    tutorial's consumer refusing anonymous users) admits sockets of the
    built-in chat with a real Django login."""

    def setUp(self):
        redis = self.start_redis()
        # Chat rooms keep history here: a gated room replays it as an open one.
        ld = self.start_layerd(redis.url, id="layerd0", extra_args=("--history", "chat_* 100 24h"))
        self.gw = self.start_gateway([ld.endpoint], id="gwg", extra_args=[
            "--route", "/ws/chat/<room_name>/ chat auth=django:authchat",
            "--route", "/ws/open/<room_name>/ chat",
            "--route", "/ws/notes/<room_name>/ notification auth=django:authchat",
            "--connect-timeout-ms", "5000"])
        self.layerd = ld
        self.env = django_env(redis.port, db_dir=self.workdir)
        self.cookie = login_cookie(self.env)
        self.worker = self.own(Runworker(["authchat"], self.env, self.workdir)).start()

    def url(self, kind, room):
        return f"ws://127.0.0.1:{self.gw.port}/ws/{kind}/{room}/"

    async def anonymous_status(self, kind, room):
        """The status of a connect without a login, once the worker reads its
        channel (until then connects time out: 503)."""
        statuses = []

        async def answered():
            statuses.append(await handshake_status(self.url(kind, room)))
            return statuses[-1] != 503
        await await_until(answered, 60, "the gate answers an anonymous connect")
        return statuses[-1]

    def test_the_consumer_refuses_anonymous_and_admits_a_login_whose_messages_are_native_and_stamped(self):
        async def body():
            self.assertEqual(await self.anonymous_status("chat", "lobby"), 403, "the consumer closes an anonymous socket")
            gated = await websockets.connect(self.url("chat", "lobby"), open_timeout=15, ping_interval=None,
                                             extra_headers={"Cookie": self.cookie})
            plain = await websockets.connect(self.url("open", "lobby"), open_timeout=10, ping_interval=None)
            try:
                # The same built-in group as the ungated route's: the worker is not in the path.
                await send_msg(gated, "from alice")
                for ws in (gated, plain):
                    got = await recv_json(ws, 10)
                    self.assertEqual(got["message"], "from alice")
                    self.assertEqual(got["user"]["name"], "alice")
                    self.assertRegex(got["user"]["id"], r"^[0-9]+$")
                    self.assertNotIn("guest", got["user"])
                await send_msg(plain, "from a guest")
                got = await recv_json(gated, 10)
                self.assertTrue(got["user"]["guest"])
                self.assertEqual((await recv_json(plain, 10))["message"], "from a guest")
                # A user in the client's JSON is ignored here too.
                await gated.send(json.dumps({"message": "spoof", "user": {"id": "0", "name": "root"}}))
                self.assertEqual((await recv_json(plain, 10))["user"]["name"], "alice")
                # The heartbeat as on the built-in route: a pong for the gated socket, nothing for the room.
                self.assertEqual((await recv_json(gated, 10))["message"], "spoof")
                await gated.send(json.dumps({"type": "ping"}))
                self.assertEqual(await recv_json(gated, 10), {"type": "pong"})
                await send_msg(gated, "after a ping")
                self.assertEqual((await recv_json(plain, 10))["message"], "after a ping")
            finally:
                await gated.close()
                await plain.close()
        arun(body(), 90)
        # The worker forgot the socket at the accept: its consumer ended.
        self.worker.wait_stat("disconnects", lambda n: n >= 1)

    def test_a_gated_room_replays_its_history_and_recovers_since_an_id(self):
        async def body():
            self.assertEqual(await self.anonymous_status("chat", "past"), 403)
            # A bad join query is refused before the gate is asked.
            self.assertEqual(await handshake_status(self.url("chat", "past") + "?history=x"), 400)
            self.assertEqual(await handshake_status(self.url("chat", "past") + "?since=1-2-3"), 400)
            plain = await websockets.connect(self.url("open", "past"), open_timeout=10, ping_interval=None)
            try:
                for i in range(3):
                    await send_msg(plain, f"p{i}")
                sent = [await recv_json(plain, 10) for _ in range(3)]
                self.assertEqual([m["message"] for m in sent], ["p0", "p1", "p2"])
            finally:
                await plain.close()
            # Each connect goes through the gate (the worker's connect()), then replays.
            ws = await websockets.connect(self.url("chat", "past") + "?history=2", open_timeout=15,
                                          ping_interval=None, extra_headers={"Cookie": self.cookie})
            try:
                got = [await recv_json(ws, 10) for _ in range(2)]
                self.assertEqual([(m["message"], m["id"], m.get("history")) for m in got],
                                 [(m["message"], m["id"], True) for m in sent[1:]])
            finally:
                await ws.close()
            ws = await websockets.connect(self.url("chat", "past") + f"?since={sent[0]['id']}", open_timeout=15,
                                          ping_interval=None, extra_headers={"Cookie": self.cookie})
            try:
                got = [await recv_json(ws, 10) for _ in range(3)]
                self.assertEqual([m.get("message") for m in got[:2]], ["p1", "p2"])
                self.assertEqual(got[2], {"type": "recovery", "complete": True, "count": 2})
                await send_msg(ws, "live after")  # and then it is the built-in chat, live
                after = await recv_json(ws, 10)
                self.assertEqual((after["message"], after["user"]["name"]), ("live after", "alice"))
                self.assertNotIn("history", after)
            finally:
                await ws.close()
        arun(body(), 90)

    def test_a_gated_notification_route_admits_a_login_and_delivers_the_centres_events(self):
        async def body():
            self.assertEqual(await self.anonymous_status("notes", "ops"), 403)
            ws = await websockets.connect(self.url("notes", "ops"), open_timeout=15, ping_interval=None,
                                          extra_headers={"Cookie": self.cookie})
            try:
                r = subprocess.run([str(BIN_DIR / "switchboard-cli"), "--layerd", self.layerd.endpoint,
                                    "group-send", "notification_ops", '{"type": "notify", "data": {"n": 1}}'],
                                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(await recv_json(ws, 10), {"type": "notify", "data": {"n": 1}})
                await ws.send(json.dumps({"message": "hi"}))
                self.assertEqual((await recv_json(ws, 10))["code"], "not_accepted", "the built-in consumer answers")
                await ws.send(json.dumps({"type": "ping"}))
                self.assertEqual(await recv_json(ws, 10), {"type": "pong"})
            finally:
                await ws.close()
        arun(body(), 90)
