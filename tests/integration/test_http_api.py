# test_http_api.py — layerd's HTTP API for backends without Django.
#
# A real layerd (with --api-token), a gateway and WebSocket clients: the
# API's group_send and send reach sockets; members/groups/group_add/
# group_discard read and write the channels_redis layout; every bad input
# (token, JSON, names, unknown groups and channels, oversized events,
# methods) gets its 4xx; without a token the API does not listen at all.
import asyncio
import json
import socket
import unittest

from harness import ProcessTestCase, arun, await_until, free_port, http_request, recv_json, ws_connect

TOKEN = "s3cret-token"


class HttpApi(ProcessTestCase):
    def setUp(self):
        self.api_port = free_port()
        self.c = self.start_cluster(layerds=1, gateways=1, layerd_args=[
            "--api-token", TOKEN, "--http-listen", f"127.0.0.1:{self.api_port}"])
        self.gw = self.c.gateways[0]

    def api(self, method, path, body=None, token=TOKEN, raw=None):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        status, _, payload = http_request(self.api_port, method, path, headers=headers, body=data, timeout=10)
        return status, (json.loads(payload) if payload.strip() else None)

    def test_group_send_and_send_reach_sockets(self):
        async def body():
            a = await ws_connect(self.gw, "lobby")
            b = await ws_connect(self.gw, "lobby")
            await await_until(lambda: len(self.c.members("lobby")) == 2, 10, "2 members")
            st, js = await asyncio.to_thread(self.api, "POST", "/api/group_send",
                                             {"group": "chat_lobby", "event": {"type": "chat.message", "message": "from api"}})
            self.assertEqual((st, js), (200, {"ok": True}))
            self.assertEqual(await recv_json(a, 10), {"message": "from api"})
            self.assertEqual(await recv_json(b, 10), {"message": "from api"})
            st, js = await asyncio.to_thread(self.api, "POST", "/api/group_send",
                                             {"group": "chat_lobby", "event": {"type": "notify", "data": [1, 2]}})
            self.assertEqual(st, 200)
            self.assertEqual(await recv_json(a, 10), {"type": "notify", "data": [1, 2]})
            await recv_json(b, 10)
            members = self.c.members("lobby")
            st, js = await asyncio.to_thread(self.api, "POST", "/api/send",
                                             {"channel": members[0], "event": {"type": "chat.message", "message": "one"}})
            self.assertEqual(st, 200)
            ta, tb = asyncio.ensure_future(recv_json(a, 10)), asyncio.ensure_future(recv_json(b, 10))
            done, pending = await asyncio.wait([ta, tb], return_when=asyncio.FIRST_COMPLETED, timeout=12)
            self.assertEqual(len(done), 1)
            self.assertEqual(done.pop().result(), {"message": "one"})
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for ws in (a, b):
                await ws.close()
        arun(body(), 60)

    def test_members_groups_add_and_discard(self):
        async def body():
            a = await ws_connect(self.gw, "lobby")
            await await_until(lambda: len(self.c.members("lobby")) == 1, 10, "1 member")
            st, js = await asyncio.to_thread(self.api, "GET", "/api/members?group=chat_lobby")
            self.assertEqual(st, 200)
            self.assertEqual(js["members"], self.c.members("lobby"))
            st, js = await asyncio.to_thread(self.api, "POST", "/api/group_add",
                                             {"group": "chat_lobby", "channel": "worker.thumbnails"})
            self.assertEqual(st, 200)
            st, js = await asyncio.to_thread(self.api, "GET", "/api/members?group=chat_lobby")
            self.assertIn("worker.thumbnails", js["members"])
            st, js = await asyncio.to_thread(self.api, "GET", "/api/groups")
            self.assertEqual(st, 200)
            self.assertIn("chat_lobby", js["groups"])
            st, js = await asyncio.to_thread(self.api, "POST", "/api/group_discard",
                                             {"group": "chat_lobby", "channel": "worker.thumbnails"})
            self.assertEqual(st, 200)
            self.assertNotIn("worker.thumbnails", self.c.members("lobby"))
            await a.close()
        arun(body(), 60)

    def test_bad_requests_get_clear_4xx_answers(self):
        ok_event = {"type": "chat.message", "message": "x"}
        cases = [
            ("wrong token", ("POST", "/api/group_send", {"group": "chat_a", "event": ok_event}), {"token": "nope"}, 401),
            ("no token", ("POST", "/api/group_send", {"group": "chat_a", "event": ok_event}), {"token": None}, 401),
            ("bad JSON", ("POST", "/api/group_send", None), {"raw": b"{nope"}, 400),
            ("not an object", ("POST", "/api/group_send", [1]), {}, 400),
            ("event without type", ("POST", "/api/group_send", {"group": "chat_a", "event": {"message": "x"}}), {}, 400),
            ("event not an object", ("POST", "/api/group_send", {"group": "chat_a", "event": "x"}), {}, 400),
            ("bad group name", ("POST", "/api/group_send", {"group": "chat a!", "event": ok_event}), {}, 400),
            ("unknown group", ("POST", "/api/group_send", {"group": "chat_nobody", "event": ok_event}), {}, 404),
            ("a gone gateway's channel", ("POST", "/api/send", {"channel": "specific.gw.0123456789abcdef!1", "event": ok_event}), {}, 404),
            ("unknown members", ("GET", "/api/members?group=chat_nobody", None), {}, 404),
            ("wrong method", ("GET", "/api/group_send", None), {}, 405),
            ("unknown endpoint", ("POST", "/api/nope", {}), {}, 404),
            ("oversized event", ("POST", "/api/group_send",
                                 {"group": "chat_a", "event": {"type": "x", "data": "y" * (1100 * 1024)}}), {}, 413),
        ]
        for name, (method, path, body), kw, want in cases:
            with self.subTest(name):
                st, js = self.api(method, path, body, **kw)
                self.assertEqual(st, want, js)
                self.assertIn("error", js)
        self.assertTrue(self.c.layerds[0].alive())

    def test_without_a_token_the_api_does_not_listen(self):
        port = free_port()
        layerd = self.start_layerd(self.c.redis.url, extra_args=["--http-listen", f"127.0.0.1:{port}"], id="no-api")
        self.assertTrue(layerd.alive())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
