# Identity end to end (docs/protocol.md, Identity), against real processes:
# redis-server, a layerd and gateways. Guests get a per-connection name;
# --jwt-secret gateways check ?token= (signature, alg, exp with the
# leeway, rooms) before the upgrade and refuse with 403 counted by
# reason; every chat message carries the sender the server knows, never
# the one the client's JSON claims; a seed client that reads only
# "message" sees the seed's frames plus extra fields.
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse

import websockets

from harness import (Clients, Gateway, ProcessTestCase, arun, handshake_status, recv_json, scrape_metrics,
                     send_msg)

SECRET = "identity-test-secret-0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, secret=SECRET, header=None):
    """An HS256 JWT, written here from RFC 7519 (independent of the code under test)."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def claims(**kw):
    c = {"sub": "42", "name": "Kim", "exp": int(time.time()) + 600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def url(gw, room, token=None, extra=""):
    u = gw.ws_url(room)
    q = []
    if token is not None:
        q.append("token=" + urllib.parse.quote(token, safe=""))
    if extra:
        q.append(extra)
    return u + ("?" + "&".join(q) if q else "")


async def open_url(cl: Clients, u: str):
    """A socket on a full URL (with its query), closed with cl's others."""
    ws = await websockets.connect(u, open_timeout=10, ping_interval=None, close_timeout=2)
    cl.sockets.append(ws)
    return ws


class Guests(ProcessTestCase):
    """No --jwt-secret: everyone is a guest, as in the seed, plus a name."""

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways

    def test_each_socket_is_a_distinct_guest_stamped_on_its_messages_on_every_gateway(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "lobby")
                b = await cl.connect(self.gwb, "lobby")
                await send_msg(a, "from a")
                got_a = [await recv_json(a), await recv_json(b)]
                await send_msg(b, "from b")
                got_b = [await recv_json(a), await recv_json(b)]
                await send_msg(a, "again a")
                again = await recv_json(b)
                ua, ub = got_a[0]["user"], got_b[0]["user"]
                for u in (ua, ub):
                    self.assertRegex(u["id"], r"^guest-[0-9a-f]{8}$")
                    self.assertEqual(u["name"], u["id"])
                    self.assertIs(u["guest"], True)
                self.assertNotEqual(ua["id"], ub["id"])
                self.assertEqual(got_a[0], got_a[1], "every member sees the same frame")
                self.assertEqual(again["user"], ua, "stable for the connection")
                self.assertEqual(got_a[0]["message"], "from a")
        arun(body(), 30)

    def test_a_user_in_the_clients_json_is_ignored(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "spoof")
                await a.send(json.dumps({"message": "hi", "user": {"id": "1", "name": "Admin"}, "guest": False}))
                got = await recv_json(a)
                self.assertEqual(got["message"], "hi")
                self.assertRegex(got["user"]["id"], r"^guest-")
                self.assertEqual(got["user"]["name"], got["user"]["id"])
                self.assertEqual(set(got), {"message", "user"})
        arun(body(), 30)

    def test_a_seed_client_sees_its_message_with_extra_fields_only(self):
        # The seed's room.html does `JSON.parse(e.data).message` and sends {"message": m}.
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "seed")
                await send_msg(a, "plain")
                got = await recv_json(a)
                self.assertEqual(got["message"], "plain")
                self.assertTrue(set(got) - {"message"} <= {"user", "id", "ts"}, got)
        arun(body(), 30)

    def test_a_token_to_a_gateway_without_a_secret_is_refused(self):
        self.assertEqual(arun(handshake_status(url(self.gwa, "lobby", mint(claims()))), 20), 403)
        m = scrape_metrics(self.gwa.port)
        self.assertEqual(m['switchboard_gateway_auth_refusals_total{reason="no_secret"}'], 1)


class Tokens(ProcessTestCase):
    """--jwt-secret (from the environment, as any option): tokens required."""

    def setUp(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, id="layerd0")
        gw = self.own(Gateway([ld.endpoint], extra_args=["--jwt-leeway-s", "30"], id="gwt", workdir=self.workdir))
        gw.env = dict(os.environ, SWITCHBOARD_JWT_SECRET=SECRET)
        self.gw = gw.start()

    def status(self, room, token=None, extra=""):
        return arun(handshake_status(url(self.gw, room, token, extra)), 20)

    def test_a_good_token_is_the_user_on_every_message(self):
        async def body():
            async with Clients() as cl:
                ws = await open_url(cl, url(self.gw, "lobby", mint(claims(sub=7, name="Kim Lee"))))
                other = await open_url(cl, url(self.gw, "lobby", mint(claims(sub="u-2", name=None))))
                await send_msg(ws, "hello")
                for s in (ws, other):
                    self.assertEqual(await recv_json(s), {"message": "hello", "user": {"id": "7", "name": "Kim Lee"}})
                await send_msg(other, "hi")
                self.assertEqual((await recv_json(ws))["user"], {"id": "u-2", "name": "u-2"})
        arun(body(), 30)

    def test_missing_forged_expired_and_unsigned_tokens_get_403_counted_by_reason(self):
        now = int(time.time())
        unsigned = b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims()).encode()) + "."
        cases = [
            ("missing", None),
            ("signature", mint(claims(), secret=SECRET + "x")),
            ("alg", unsigned),
            ("alg", mint(claims(), header={"alg": "HS512"})),
            ("expired", mint(claims(exp=now - 31 - 5))),
            ("not_yet_valid", mint(claims(nbf=now + 600))),
            ("claims", mint(claims(sub=None))),
            ("claims", mint(claims(rooms="lobby"))),
            ("malformed", "not-a-token"),
            ("too_large", mint(claims(pad="x" * 5000))),
        ]
        for reason, token in cases:
            with self.subTest(reason=reason):
                self.assertEqual(self.status("lobby", token), 403)
        m = scrape_metrics(self.gw.port)
        for reason in {r for r, _ in cases}:
            want = sum(1 for r, _ in cases if r == reason)
            self.assertEqual(m[f'switchboard_gateway_auth_refusals_total{{reason="{reason}"}}'], want, reason)
        self.assertEqual(m['switchboard_gateway_handshake_refusals_total{reason="auth"}'], len(cases))
        self.assertEqual(m["switchboard_gateway_handshakes_total"], 0)

    def test_expiry_within_the_leeway_still_opens(self):
        self.assertEqual(self.status("lobby", mint(claims(exp=int(time.time()) - 5))), 101)

    def test_the_rooms_claim_is_an_allow_list_of_names_and_star_patterns(self):
        t = mint(claims(rooms=["lobby", "team_*"]))
        self.assertEqual(self.status("lobby", t), 101)
        self.assertEqual(self.status("team_red", t), 101)
        self.assertEqual(self.status("lobby2", t), 403)
        self.assertEqual(self.status("other", t), 403)
        self.assertEqual(scrape_metrics(self.gw.port)['switchboard_gateway_auth_refusals_total{reason="room"}'], 2)

    def test_a_token_given_twice_is_a_400_and_other_parameters_are_ignored(self):
        t = mint(claims())
        self.assertEqual(self.status("lobby", t, "token=" + t), 400)
        self.assertEqual(self.status("lobby", t, "history=5&whatever=1"), 101)

    def test_the_handshake_log_never_shows_the_token(self):
        t = mint(claims())
        self.assertEqual(self.status("lobby", t), 101)
        self.assertEqual(self.status("lobby", t + "x"), 403)
        self.assertNotIn(t.split(".")[2], self.gw.log_text())


class TokensAndGuests(ProcessTestCase):
    """--jwt-secret-file with --anonymous allow: guests welcome, bad tokens not."""

    def setUp(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, id="layerd0")
        secret_file = self.workdir / "jwt.secret"
        secret_file.write_text(SECRET + "\n")
        self.gw = self.start_gateway([ld.endpoint], id="gwg",
                                     extra_args=["--jwt-secret-file", str(secret_file), "--anonymous", "allow"])

    def test_no_token_is_a_guest_a_good_one_a_user_and_a_bad_one_is_refused(self):
        async def body():
            async with Clients() as cl:
                user = await open_url(cl, url(self.gw, "mix", mint(claims(sub="9", name="Ana"))))
                guest = await cl.connect(self.gw, "mix")
                await send_msg(guest, "g")
                self.assertTrue((await recv_json(user))["user"]["guest"])
                self.assertEqual((await recv_json(guest))["message"], "g")
                await send_msg(user, "u")
                got = await recv_json(guest)
                self.assertEqual(got["user"], {"id": "9", "name": "Ana"})
        arun(body(), 30)
        self.assertEqual(arun(handshake_status(url(self.gw, "mix", mint(claims(), secret="wrong" * 8))), 20), 403)
