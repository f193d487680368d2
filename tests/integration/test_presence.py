# Presence end to end (docs/protocol.md, Presence), against real processes:
# redis-server, layerds and gateways on loopback. Who is in a room is kept
# per user by the room's owner layerd (layerd/presence.hpp): several tabs
# of one user count once; a socket that joins with ?presence=1 gets a
# snapshot (everyone already there, on any gateway, and itself) and then
# the debounced net changes; a dead gateway's users leave within the
# gateway timeout; a layerd failover rebuilds the list from the gateways'
# SYNC without any event; big rooms get counts only; GET /api/presence on
# any gateway and `switchboard-cli presence` answer from the owner.
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import websockets

from harness import (CLI_BIN, Clients, Cluster, Gateway, ProcessTestCase, arun, free_port, handshake_status,
                     http_request, scrape_metrics, wait_until)

SECRET = "presence-test-secret-0123456789abcdef"
DEBOUNCE_MS = 400
GATEWAY_TIMEOUT_MS = 1500


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(sub, name):
    """An HS256 JWT written here from RFC 7519 (independent of the code under test)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "name": name, "exp": int(time.time()) + 600}).encode())
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def url(gw, room, token=None, presence=True, extra=""):
    q = []
    if token is not None:
        q.append("token=" + urllib.parse.quote(token, safe=""))
    if presence:
        q.append("presence=1")
    if extra:
        q.append(extra)
    return gw.ws_url(room) + ("?" + "&".join(q) if q else "")


async def open_url(cl: Clients, u: str):
    ws = await websockets.connect(u, open_timeout=10, ping_interval=None, close_timeout=2)
    cl.sockets.append(ws)
    return ws


async def next_presence(ws, timeout: float = 5.0):
    """The next frame, which must be a presence frame."""
    m = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    if m.get("type") != "presence":
        raise AssertionError(f"expected a presence frame, got {m!r}")
    return m


async def frames_within(ws, seconds: float):
    """Every frame ws receives in the next `seconds`."""
    got = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            return got


def ids(users):
    return sorted(u["id"] for u in users)


class PresenceCase(ProcessTestCase):
    """Two layerds (with /metrics), two gateways taking tokens and guests."""

    LIST_MAX = 100

    def setUp(self):
        redis = self.start_redis()
        self.metrics_ports = [free_port(), free_port()]
        self.lds = [self.start_layerd(redis.url, id=f"layerd{i}", extra_args=[
            "--presence-debounce-ms", str(DEBOUNCE_MS), "--presence-list-max", str(self.LIST_MAX),
            "--gateway-timeout-ms", str(GATEWAY_TIMEOUT_MS),
            "--metrics-listen", f"127.0.0.1:{self.metrics_ports[i]}"]) for i in range(2)]
        self.eps = [ld.endpoint for ld in self.lds]
        self.gws = []
        for name in ("gwa", "gwb"):
            gw = self.own(Gateway(self.eps, extra_args=["--anonymous", "allow"],
                                  id=name, workdir=self.workdir))
            gw.env = dict(os.environ, SWITCHBOARD_JWT_SECRET=SECRET)
            self.gws.append(gw.start())
        self.wait_links_up(Cluster(redis, self.lds, self.gws))
        self.gwa, self.gwb = self.gws

    def api(self, gw, query):
        status, _, body = http_request(gw.port, "GET", "/api/presence?" + query)
        return status, body

    def presence_of(self, gw, room):
        status, body = self.api(gw, "group=chat_" + room)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def owner_index(self, room):
        """Which layerd counts the room (its presence gauge), by /metrics."""
        counts = [scrape_metrics(p).get("switchboard_layerd_presence_groups", 0) for p in self.metrics_ports]
        owners = [i for i, c in enumerate(counts) if c > 0]
        self.assertEqual(len(owners), 1, f"presence groups per layerd: {counts}")
        return owners[0]


class Presence(PresenceCase):

    def test_two_tabs_of_one_token_user_count_once_with_their_name_and_guests_as_guests(self):
        async def body():
            async with Clients() as cl:
                kim = mint("u-7", "Kim Lee")
                tab1 = await open_url(cl, url(self.gwa, "lobby", kim))
                snap = await next_presence(tab1)
                self.assertEqual(snap, {"type": "presence", "snapshot": True, "count": 1,
                                        "users": [{"id": "u-7", "name": "Kim Lee"}]})
                tab2 = await open_url(cl, url(self.gwb, "lobby", kim))
                snap2 = await next_presence(tab2)
                self.assertEqual(snap2["count"], 1)  # the second tab is the same user
                self.assertEqual(snap2["users"], [{"id": "u-7", "name": "Kim Lee"}])
                guest = await open_url(cl, url(self.gwa, "lobby", presence=False))
                # tab1's window: Kim joined (its own join), then the guest
                changes = [m for m in await frames_within(tab1, DEBOUNCE_MS * 3 / 1000) if m.get("type") == "presence"]
                joined = [u for m in changes for u in m.get("joined", [])]
                self.assertEqual(len(joined), 2, changes)  # Kim once, whatever its tabs, and the guest
                guests = [u for u in joined if u.get("guest")]
                self.assertEqual(len(guests), 1, changes)
                self.assertRegex(guests[0]["id"], r"^guest-[0-9a-f]{8}$")
                self.assertEqual(changes[-1]["count"], 2)
                state = self.presence_of(self.gwb, "lobby")
                self.assertEqual(state["count"], 2)
                self.assertEqual(ids(state["users"]), sorted(["u-7", guests[0]["id"]]))
                self.assertEqual([u for u in state["users"] if u["id"] == "u-7"], [{"id": "u-7", "name": "Kim Lee"}])
                # One tab closes: Kim stays; the guest closes: it leaves.
                await tab2.close()
                await guest.close()
                left = await next_presence(tab1, 5)
                self.assertEqual(left, {"type": "presence", "joined": [], "left": [guests[0]], "count": 1})
                self.assertEqual(ids(self.presence_of(self.gwa, "lobby")["users"]), ["u-7"])
        arun(body(), 60)

    def test_the_snapshot_holds_everyone_already_present_on_any_gateway_and_the_joiner(self):
        async def body():
            async with Clients() as cl:
                for i in range(3):
                    await open_url(cl, url(self.gwb, "hall", mint(f"b{i}", f"B {i}"), presence=False))
                await open_url(cl, url(self.gwa, "hall", mint("a0", "A 0"), presence=False))
                # no debounce wait: the snapshot must not depend on announced changes
                me = await open_url(cl, url(self.gwa, "hall", mint("me", "Me")))
                snap = await next_presence(me)
                self.assertTrue(snap["snapshot"])
                self.assertEqual(snap["count"], 5)
                self.assertEqual(ids(snap["users"]), ["a0", "b0", "b1", "b2", "me"])
        arun(body(), 60)

    def test_changes_are_debounced_to_the_net_change_and_reach_only_watchers(self):
        async def body():
            async with Clients() as cl:
                w = await open_url(cl, url(self.gwa, "net", mint("w", "W")))
                blind = await open_url(cl, url(self.gwb, "net", mint("blind", "Blind"), presence=False))
                await next_presence(w)  # snapshot
                await frames_within(w, DEBOUNCE_MS * 2.5 / 1000)  # w's and blind's own joins
                # x comes and goes inside one window, y comes and stays: only y is news
                x = await open_url(cl, url(self.gwb, "net", mint("x", "X"), presence=False))
                await x.close()
                await open_url(cl, url(self.gwb, "net", mint("y", "Y"), presence=False))
                got = [m for m in await frames_within(w, DEBOUNCE_MS * 3 / 1000)]
                self.assertEqual(got, [{"type": "presence", "joined": [{"id": "y", "name": "Y"}], "left": [],
                                        "count": 3}])
                self.assertEqual(await frames_within(blind, 0.2), [])  # not a watcher: no presence frames
        arun(body(), 60)

    def test_a_killed_gateways_users_leave_within_the_gateway_timeout(self):
        async def body():
            async with Clients() as cl:
                w = await open_url(cl, url(self.gwa, "dead", mint("w", "W")))
                await next_presence(w)
                for i in range(3):
                    await open_url(cl, url(self.gwb, "dead", mint(f"b{i}", f"B {i}"), presence=False))
                got = await frames_within(w, DEBOUNCE_MS * 3 / 1000)
                self.assertEqual(got[-1]["count"], 4, got)
                self.gwb.kill()
                t0 = time.monotonic()
                left = await next_presence(w, (GATEWAY_TIMEOUT_MS + DEBOUNCE_MS) / 1000 + 3)
                took = time.monotonic() - t0
                self.assertEqual(ids(left["left"]), ["b0", "b1", "b2"])
                self.assertEqual(left["count"], 1)
                # the layerd's own clock: no later than its timeout, the window and its 250 ms tick
                self.assertLess(took, (GATEWAY_TIMEOUT_MS + DEBOUNCE_MS + 250) / 1000 + 1.0)
                self.assertEqual(ids(self.presence_of(self.gwa, "dead")["users"]), ["w"])
        arun(body(), 60)

    def test_a_layerd_failover_rebuilds_the_exact_list_without_events(self):
        async def body():
            async with Clients() as cl:
                w = await open_url(cl, url(self.gwa, "fo", mint("w", "W")))
                await next_presence(w)
                await open_url(cl, url(self.gwb, "fo", mint("b", "B"), presence=False))
                await open_url(cl, url(self.gwb, "fo", presence=False))  # a guest
                got = await frames_within(w, DEBOUNCE_MS * 3 / 1000)
                self.assertEqual(got[-1]["count"], 3, got)
                before = self.presence_of(self.gwa, "fo")
                owner = self.owner_index("fo")
                self.lds[owner].kill()
                survivor = 1 - owner

                def rebuilt():
                    status, body = self.api(self.gwb, "group=chat_fo")
                    return status == 200 and json.loads(body)["count"] == 3
                wait_until(rebuilt, 10, "presence rebuilt on the surviving layerd")
                self.assertEqual(self.presence_of(self.gwa, "fo"), before)
                counts = scrape_metrics(self.metrics_ports[survivor])
                self.assertEqual(counts["switchboard_layerd_presence_groups"], 1)
                # no spurious joins or leaves reached the watcher
                self.assertEqual(await frames_within(w, DEBOUNCE_MS * 3 / 1000), [])
                self.assertEqual(counts.get("switchboard_layerd_presence_changes_total", 0), 0)
        arun(body(), 60)

    def test_the_cli_asks_the_owner_and_bad_queries_are_refused(self):
        async def body():
            async with Clients() as cl:
                await open_url(cl, url(self.gwa, "cli", mint("u-1", "Ann"), presence=False))
                guest = await open_url(cl, url(self.gwb, "cli"))
                snap = await next_presence(guest)
                gid = [u["id"] for u in snap["users"] if u.get("guest")][0]
                # the gateways' list, in either order of asking, picks the same owner
                out = subprocess.run([str(CLI_BIN), "--layerd", ",".join(self.eps), "presence", "chat_cli"],
                                     capture_output=True, text=True, timeout=20)
                self.assertEqual(out.returncode, 0, out.stderr)
                lines = out.stdout.splitlines()
                self.assertEqual(lines[0], "count 2")
                self.assertEqual(sorted(lines[1:]), sorted([f"u-1\tAnn\tuser", f"{gid}\t{gid}\tguest"]))
                # the owner alone answers right: the other one knows nobody there
                other = self.eps[1 - self.owner_index("cli")]
                alone = subprocess.run([str(CLI_BIN), "--layerd", other, "presence", "chat_cli"],
                                       capture_output=True, text=True, timeout=20)
                self.assertEqual(alone.stdout.splitlines(), ["count 0"])
                bad = subprocess.run([str(CLI_BIN), "--layerd", self.eps[0], "presence", "no room!"],
                                     capture_output=True, text=True, timeout=20)
                self.assertEqual(bad.returncode, 2, bad.stderr)
        arun(body(), 60)
        for q in ("presence=2", "presence=", "presence=1&presence=1", "presence=true"):
            self.assertEqual(arun(handshake_status(self.gwa.ws_url("lobby") + "?" + q), 20), 400, q)
        m = scrape_metrics(self.gwa.port)
        self.assertEqual(m['switchboard_gateway_handshake_refusals_total{reason="bad_query"}'], 4)
        for q in ("", "group=", "group=chat_a&group=chat_b", "group=notification_x", "group=chat_" + "x" * 200,
                  "group=chat_%zz"):
            status, body = self.api(self.gwa, q)
            self.assertEqual(status, 400, (q, body))
        # asking is admitted as joining is: a bad token is refused even where guests may come
        status, _ = self.api(self.gwa, "group=chat_lobby&token=not.a.token")
        self.assertEqual(status, 403)

    def test_asking_a_layerd_that_never_answers_ends_in_503(self):
        for ld in self.lds:
            ld.signal_group(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            status, _, body = http_request(self.gwa.port, "GET", "/api/presence?group=chat_lobby", timeout=20)
            self.assertEqual(status, 503, body)
            self.assertIn(b"presence unavailable", body)
            self.assertLess(time.monotonic() - t0, 15)  # bounded by --join-timeout-ms / --layerd-timeout-ms
        finally:
            for ld in self.lds:
                ld.signal_group(signal.SIGCONT)


class BigRoom(PresenceCase):
    """Above --presence-list-max users, counts only."""

    LIST_MAX = 3

    def test_above_the_list_max_frames_and_answers_carry_counts_only(self):
        async def body():
            async with Clients() as cl:
                w = await open_url(cl, url(self.gwa, "big", mint("w", "W")))
                self.assertEqual((await next_presence(w))["users"], [{"id": "w", "name": "W"}])
                for i in range(4):
                    await open_url(cl, url(self.gwb, "big", mint(f"u{i}", f"U {i}"), presence=False))
                got = await frames_within(w, DEBOUNCE_MS * 3 / 1000)
                self.assertEqual(got, [{"type": "presence", "count": 5}])
                late = await open_url(cl, url(self.gwb, "big", mint("late", "Late")))
                self.assertEqual(await next_presence(late), {"type": "presence", "snapshot": True, "count": 6})
                state = self.presence_of(self.gwa, "big")
                self.assertEqual(state["count"], 6)
                self.assertEqual(len(state["users"]), 3)
                self.assertTrue(state["truncated"])
        arun(body(), 60)


class Storm(ProcessTestCase):
    """bench/presence_storm.py's scenario, small: it keeps working, and its
    checks (frames within the debounce bound, the final list exact) hold.
    The full-size run and its timing live in the bench (docs/operations.md,
    Presence)."""

    def test_a_reconnect_storm_stays_within_the_bound_and_ends_with_the_exact_list(self):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
        from presence_storm import run_storm
        r = run_storm(self, clients=600, procs=2, watchers=4, concurrency=100, debounce_ms=500, list_max=1000)
        self.assertEqual(r["connected_before"], 600, r)
        self.assertEqual(r["reconnected"], 600, r)
        self.assertTrue(r["final_exact"], r)
        self.assertTrue(r["within_bound"], r)
        # a storm shorter than a window is one net change of nothing: no event at all
        self.assertEqual(r["frames_per_watcher_max"], r["room_events"], r)


class DjangoGatePresence(ProcessTestCase):
    """A Django gate's user (`chat auth=django:authchat`, a real login)
    counts in the room's presence with the name the app gave, and a gated
    socket that asked for presence gets the frames (test_identity_django's
    stack)."""

    from test_identity_django import DjangoGate as _gate
    setUp = _gate.setUp
    url = _gate.url
    anonymous_status = _gate.anonymous_status

    def test_a_gated_login_is_counted_and_watches_like_any_socket(self):
        async def body():
            self.assertEqual(await self.anonymous_status("chat", "lobby"), 403)
            gated = await websockets.connect(self.url("chat", "lobby") + "?presence=1", open_timeout=15,
                                             ping_interval=None, extra_headers={"Cookie": self.cookie})
            try:
                snap = await next_presence(gated, 10)
                self.assertEqual(snap["count"], 1)
                self.assertEqual(snap["users"][0]["name"], "alice")
                self.assertRegex(snap["users"][0]["id"], r"^[0-9]+$")
                self.assertNotIn("guest", snap["users"][0])
                plain = await websockets.connect(self.url("open", "lobby") + "?presence=1", open_timeout=10,
                                                 ping_interval=None)
                try:
                    snap2 = await next_presence(plain, 10)
                    self.assertEqual(snap2["count"], 2)
                    self.assertEqual(sorted(bool(u.get("guest")) for u in snap2["users"]), [False, True])
                    # the gated watcher hears the guest come (after its own join, in one or two windows)
                    frames = await frames_within(gated, 3.0)
                    joined = [u for m in frames for u in m.get("joined", [])]
                    self.assertEqual(sum(1 for u in joined if u.get("guest")), 1, frames)
                finally:
                    await plain.close()
            finally:
                await gated.close()
        arun(body(), 90)
        # a guest may not ask who is in a room the application gates
        status, _, body = http_request(self.gw.port, "GET", "/api/presence?group=chat_lobby")
        self.assertEqual(status, 403, body)
        self.assertIn(b"gated", body)
