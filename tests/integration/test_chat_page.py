# The chat page (gateway/pages/chat_room.html at /chat/<room>/) and the
# handshake check it relies on (POST /ws-check/<ws path>), against real
# processes: redis-server, layerd, gateways, and a real headless Chromium
# (harness_browser.py).
#
# WsCheck (no browser): /ws-check answers what the handshake to the same
# path would get (204 for 101), for routes, rooms, origins and tokens, and
# joins nothing. ChatPage (Chromium): two browsers chat and see who said
# what; a gateway killed and restarted on its port -> the page shows
# reconnecting, then live, and what was typed in between arrives exactly
# once; a 403 stops the retries ("not allowed"), a bad room too ("no such
# room"); hostile names and messages stay text; the backoff stays inside
# its bounds. With room history on, a reconnect recovers exactly what it
# missed; with presence, the side list follows who comes and goes (a page
# left behind leaves the room at once). A connection that goes silent
# without closing (a relay in the test freezes it, as a NAT that forgot the
# flow) is noticed by the page's heartbeat, which reconnects and recovers
# what was said meanwhile; an idle page on a good link pings and stays live.
#
# Screenshots go to build/artifacts/browser/ (beside SB_BIN_DIR).
import asyncio
import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

import websockets

from harness import (BIN_DIR, CLI_BIN, Gateway, ProcessTestCase, RawWebSocket, TcpRelay, arun, handshake_status,
                     http_request, recv_json, recv_until, scrape_metrics, send_msg, wait_until, ws_connect)
from harness_browser import MISSING, SKIP_REASON, BrowserTestCase, By, EC, Keys
from test_identity import SECRET, claims, mint

ARTIFACTS = BIN_DIR.parent / "artifacts" / "browser"
RECONNECT_WAIT = 45  # seconds: the backoff reaches 8-16 s after four failures


def checks_metric(port, status):
    return scrape_metrics(port).get(f'switchboard_gateway_ws_checks_total{{status="{status}"}}', 0)


def ws_check(port, path, headers=None, method="POST"):
    status, hdrs, body = http_request(port, method, "/ws-check" + path, headers=headers, body=b"")
    return status, hdrs, body.decode("utf-8", "replace")


async def server_has_history(gw, room):
    """A line sent on a ?history=1 socket comes back with an "id" only when history is on."""
    async with websockets.connect(gw.ws_url(room) + "?history=1", open_timeout=10,
                                  ping_interval=None, close_timeout=1) as ws:
        await send_msg(ws, "history probe")
        for _ in range(10):
            m = await recv_json(ws, 5)
            if m.get("message") == "history probe":
                return "id" in m
    return False


async def server_has_presence(gw, room):
    """A ?presence=1 socket gets a presence snapshot when presence is on."""
    async with websockets.connect(gw.ws_url(room) + "?presence=1", open_timeout=10,
                                  ping_interval=None, close_timeout=1) as ws:
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), 2))
        except asyncio.TimeoutError:
            return False
        return m.get("type") == "presence"


class WsCheck(ProcessTestCase):
    """POST /ws-check/<path> against the handshake to <path>, one gateway."""

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=1)
        self.gw = self.c.gateways[0]

    def test_it_answers_what_the_handshake_would_get(self):
        host = f"127.0.0.1:{self.gw.port}"
        cases = [
            ("/ws/chat/lobby/", None, 204),
            ("/ws/chat/%EB%A1%9C%EB%B9%84/?history=5&presence=1", None, 204),
            ("/ws/chat/a-b/", None, 404),
            ("/ws/chat/" + "a" * 101 + "/", None, 404),
            ("/ws/nothing/here/", None, 404),
            ("/ws/chat/lobby/", "http://evil.example", 403),
            ("/ws/chat/lobby/", f"http://{host}", 204),
            ("/ws/chat/lobby/?presence=yes", None, 400),
            ("/ws/chat/lobby/?since=1-0&history=3", None, 204),
            ("/ws/chat/lobby/?history=many", None, 400),
            ("/ws/chat/lobby/?history=1&history=2", None, 400),
            ("/ws/chat/lobby/?since=yesterday", None, 400),
            ("/ws/chat/lobby/?presence=1&presence=1", None, 400),
        ]
        for path, origin, want in cases:
            with self.subTest(path=path[:40], origin=origin):
                headers = {"Origin": origin} if origin else {}
                status, hdrs, body = ws_check(self.gw.port, path, headers)
                self.assertEqual(status, want, body)
                self.assertEqual(hdrs.get("cache-control"), "no-store")
                if want != 204:
                    self.assertTrue(body.strip(), "a refusal says why")
                shake = arun(self.handshake(path, origin), 20)
                self.assertEqual(shake, 101 if status == 204 else status)

    async def handshake(self, path, origin):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{self.gw.port}{path}", origin=origin,
                                          open_timeout=10, ping_interval=None, close_timeout=1)
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        await ws.close()
        return 101

    def test_it_joins_nothing_and_counts_apart_from_handshakes(self):
        before = scrape_metrics(self.gw.port)
        for _ in range(3):
            self.assertEqual(ws_check(self.gw.port, "/ws/chat/quiet/")[0], 204)
        self.assertEqual(ws_check(self.gw.port, "/ws/chat/a.b/")[0], 404)
        time.sleep(0.3)  # a join would have reached Redis by now (the handshake waits for it)
        self.assertEqual(self.c.members("quiet"), [])
        after = scrape_metrics(self.gw.port)
        self.assertEqual(checks_metric(self.gw.port, 204) - before.get(
            'switchboard_gateway_ws_checks_total{status="204"}', 0), 3)
        self.assertEqual(after['switchboard_gateway_ws_checks_total{status="404"}'], 1)
        for name in ("switchboard_gateway_handshakes_total",
                     'switchboard_gateway_handshake_refusals_total{reason="not_found"}'):
            self.assertEqual(after[name], before[name], name)
        # Control: a real handshake does join, and is counted as one.
        status = arun(handshake_status(self.gw.ws_url("quiet")), 20)
        self.assertEqual(status, 101)
        self.assertEqual(scrape_metrics(self.gw.port)["switchboard_gateway_handshakes_total"],
                         before["switchboard_gateway_handshakes_total"] + 1)

    def test_bad_requests_get_clear_answers(self):
        with self.subTest("GET is not the check"):
            status, hdrs, _ = ws_check(self.gw.port, "/ws/chat/lobby/", method="GET")
            self.assertEqual(status, 405)
            self.assertEqual(hdrs.get("allow"), "POST")
        with self.subTest("a path outside /ws/"):
            self.assertEqual(ws_check(self.gw.port, "/chat/lobby/")[0], 404)
            self.assertEqual(ws_check(self.gw.port, "/")[0], 404)
        with self.subTest("a target over the header bound"):
            status, _, _ = ws_check(self.gw.port, "/ws/chat/lobby/?x=" + "a" * 20000)
            self.assertEqual(status, 400)
        with self.subTest("the gateway still serves"):
            self.assertEqual(ws_check(self.gw.port, "/ws/chat/lobby/")[0], 204)


    def test_a_draining_gateway_answers_503(self):
        # A socket that never answers the 1001 keeps the drain going (up to
        # --drain-timeout-ms, 10 s) while the check is asked.
        raw = RawWebSocket(self.gw.port, "/ws/chat/lobby/")
        self.addCleanup(raw.close)
        self.assertEqual(raw.status, 101)
        self.gw.signal_group(signal.SIGTERM)
        wait_until(lambda: (self.gw.healthz() or (0,))[0] == 503, 5, "the gateway to drain")
        status, _, body = ws_check(self.gw.port, "/ws/chat/lobby/")
        self.assertEqual((status, body), (503, "gateway draining; connect again\n"))


class WsCheckTokens(ProcessTestCase):
    """A --jwt-secret gateway (guests denied): the check runs the token policy."""

    def setUp(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, id="layerd0")
        gw = self.own(Gateway([ld.endpoint], id="gwt", workdir=self.workdir))
        gw.env = dict(os.environ, SWITCHBOARD_JWT_SECRET=SECRET)
        self.gw = gw.start()

    def test_tokens_decide_as_at_the_handshake(self):
        good = mint(claims(name="Kim", rooms=["lobby"]))
        q = urllib.parse.quote
        cases = [
            ("/ws/chat/lobby/", 403),
            ("/ws/chat/lobby/?token=" + q(good, safe=""), 204),
            ("/ws/chat/other/?token=" + q(good, safe=""), 403),
            ("/ws/chat/lobby/?token=" + q(mint(claims(), secret="wrong"), safe=""), 403),
            ("/ws/chat/lobby/?token=" + q(good, safe="") + "&token=" + q(good, safe=""), 400),
        ]
        for path, want in cases:
            with self.subTest(want=want, path=path[:30]):
                status, _, body = ws_check(self.gw.port, path)
                self.assertEqual(status, want, body)
                shake = arun(handshake_status(f"ws://127.0.0.1:{self.gw.port}{path}"), 20)
                self.assertEqual(shake, 101 if status == 204 else status)
        # Not counted as refused handshakes (the page's checks would double them).
        m = scrape_metrics(self.gw.port)
        self.assertEqual(m['switchboard_gateway_ws_checks_total{status="403"}'], 3)
        self.assertEqual(m['switchboard_gateway_ws_checks_total{status="400"}'], 1)
        self.assertEqual(m['switchboard_gateway_handshake_refusals_total{reason="auth"}'], 4)


@unittest.skipIf(MISSING, SKIP_REASON)
class ChatPage(BrowserTestCase):

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- helpers

    def shot(self, driver, name):
        driver.save_screenshot(str(ARTIFACTS / f"chat_page_{self._testMethodName}_{name}.png"))

    def open_page(self, driver, gw, room, query=""):
        driver.get(gw.http_url("/chat/" + urllib.parse.quote(room, safe="") + "/" + query))
        self.assert_no_alert(driver)

    def state(self, driver):
        return driver.find_element(By.ID, "status").get_attribute("data-state")

    def wait_state(self, driver, want, timeout=15):
        self.wait(driver, lambda d: self.state(d) == want,
                  f"the page's status to be {want} (it is {self.state(driver)!r})", timeout)

    def lines(self, driver):
        return driver.execute_script("""
            return Array.from(document.querySelectorAll('#log li'), li => ({
                id: li.dataset.id || null,
                who: li.querySelector('.who').textContent,
                text: li.querySelector('.text').textContent,
                own: li.classList.contains('own'),
                guest: li.querySelector('.guest-mark') !== null,
                time: li.querySelector('time').textContent,
                history: li.classList.contains('history')}));""")

    def texts(self, driver):
        return [l["text"] for l in self.lines(driver)]

    def say(self, driver, text):
        box = driver.find_element(By.ID, "chat-message-input")
        box.send_keys(text, Keys.ENTER)
        self.wait(driver, lambda d: box.get_property("value") == "", "the page to take the message")

    def wait_text(self, driver, text, who="the page"):
        self.wait(driver, lambda d: text in self.texts(d), f"{who} to show {text!r}", 15)

    def notice(self, driver):
        el = driver.find_element(By.ID, "notice")
        return el.text if el.is_displayed() else ""

    # ------------------------------------------------------------------ tests

    def test_two_browsers_chat_and_see_who_said_what(self):
        alice, bob = self.browser(), self.browser()
        self.open_page(alice, self.gwa, "lobby")
        self.open_page(bob, self.gwb, "lobby")
        self.wait_state(alice, "live")
        self.wait_state(bob, "live")
        self.assertEqual(alice.find_element(By.ID, "room-title").text, "lobby")
        self.say(alice, "hello from alice")
        self.wait_text(bob, "hello from alice", "bob")
        self.say(bob, "안녕 你好 from bob")
        for who, d in (("alice", alice), ("bob", bob)):
            self.wait_text(d, "안녕 你好 from bob", who)
        a, b = self.lines(alice), self.lines(bob)
        self.assertEqual([l["text"] for l in a], [l["text"] for l in b])
        by_text = {l["text"]: l for l in a}
        alice_name, bob_name = by_text["hello from alice"]["who"], by_text["안녕 你好 from bob"]["who"]
        self.assertRegex(alice_name, r"^guest-[0-9a-f]{8}$")
        self.assertRegex(bob_name, r"^guest-[0-9a-f]{8}$")
        self.assertNotEqual(alice_name, bob_name)
        self.assertTrue(all(l["guest"] for l in a + b))
        self.assertRegex(by_text["hello from alice"]["time"], r"^\d\d:\d\d$")
        # Own lines: each page marks its own, not the other's.
        self.assertEqual([l["own"] for l in a], [True, False])
        self.assertEqual([l["own"] for l in b], [False, True])
        self.shot(alice, "alice")
        self.shot(bob, "bob")
        self.assert_console_clean(alice, self.gwa)

    def test_a_gateway_restart_reconnects_and_what_was_typed_meanwhile_arrives_once(self):
        alice, bob = self.browser(), self.browser()
        room = "flaky"
        history = arun(server_has_history(self.gwb, "probe_" + room), 20)
        self.open_page(alice, self.gwa, room)
        self.open_page(bob, self.gwb, room)
        self.wait_state(alice, "live")
        self.wait_state(bob, "live")
        self.say(alice, "before")
        self.wait_text(bob, "before", "bob")
        port = self.gwa.port
        self.gwa.kill()
        self.wait(alice, lambda d: self.state(d) in ("reconnecting", "connecting"), "alice to notice", 15)
        self.wait_state(alice, "reconnecting")
        self.assertRegex(alice.find_element(By.ID, "status").text, r"^reconnecting in \d+ s$")
        self.shot(alice, "reconnecting")
        self.say(alice, "typed while away")
        self.assertEqual(alice.execute_script(
            "return Array.from(document.querySelectorAll('#outbox li .text'), e => e.textContent);"),
            ["typed while away"])
        self.say(bob, "said during the outage")
        self.wait_text(bob, "said during the outage", "bob")
        gw = self.own(Gateway(self.c.endpoints, id="gwa2", port=port, workdir=self.workdir)).start()
        self.wait_state(alice, "live", RECONNECT_WAIT)
        for who, d in (("alice", alice), ("bob", bob)):
            self.wait_text(d, "typed while away", who)
        time.sleep(1)  # a duplicate would arrive right behind the first copy
        for who, d in (("alice", alice), ("bob", bob)):
            self.assertEqual(self.texts(d).count("typed while away"), 1, who)
            self.assertEqual(self.texts(d).count("before"), 1, who)
        self.assertEqual(alice.execute_script("return document.querySelectorAll('#outbox li').length;"), 0)
        if history:
            self.wait_text(alice, "said during the outage", "alice (recovered from history)")
            self.assertEqual(self.texts(alice).count("said during the outage"), 1)
        else:
            # Nothing can bring that line back: the page says so.
            self.assertNotIn("said during the outage", self.texts(alice))
            self.assertIn("may be missing", self.notice(alice))
        self.shot(alice, "live_again")
        self.assertTrue(gw.alive())

    def test_the_network_dropped_and_back_shows_offline_then_live(self):
        # Chromium's own network switch (DevTools: Network.emulateNetworkConditions)
        # takes the browser offline, as a train tunnel would.
        alice, bob = self.browser(), self.browser()
        self.open_page(alice, self.gwa, "tunnel")
        self.open_page(bob, self.gwb, "tunnel")
        self.wait_state(alice, "live")
        self.wait_state(bob, "live")

        def network(offline):
            alice.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        alice.execute_cdp_cmd("Network.enable", {})
        network(True)
        self.wait_state(alice, "offline")
        self.assertRegex(alice.find_element(By.ID, "status").text, r"^offline · retrying in \d+ s$")
        self.say(alice, "typed in the tunnel")
        self.shot(alice, "offline")
        network(False)
        self.wait_state(alice, "live", RECONNECT_WAIT)
        for who, d in (("alice", alice), ("bob", bob)):
            self.wait_text(d, "typed in the tunnel", who)
        time.sleep(1)
        for who, d in (("alice", alice), ("bob", bob)):
            self.assertEqual(self.texts(d).count("typed in the tunnel"), 1, who)
        self.assertGreaterEqual(alice.execute_script("return sbChat.opens;"), 2)

    def test_retry_now_pressed_again_and_again_leaves_one_socket(self):
        d = self.browser()
        self.open_page(d, self.gwa, "impatient")
        self.wait_state(d, "live")
        port = self.gwa.port
        self.gwa.kill()
        self.wait_state(d, "reconnecting")
        # Each press starts a connect while the last one's /ws-check may
        # still be out; a stale answer must not start a second socket.
        for _ in range(6):
            d.execute_script("document.getElementById('retry-now').click();")
            time.sleep(0.1)
        gw = self.own(Gateway(self.c.endpoints, id="gwa2", port=port, workdir=self.workdir)).start()
        self.wait_state(d, "live", RECONNECT_WAIT)
        time.sleep(3)  # a stale retry would fire within 0.5-2 s and open another
        self.assertEqual(json.loads(gw.healthz()[1])["connections"], 1)
        self.assertEqual(self.state(d), "live")

    def test_lines_typed_past_the_queue_bound_are_marked_unsent(self):
        d = self.browser()
        self.open_page(d, self.gwa, "bounded")
        self.wait_state(d, "live")
        self.gwa.kill()
        self.wait_state(d, "reconnecting")
        d.execute_script("""
            const box = document.getElementById('chat-message-input');
            for (let i = 0; i < 52; i++) {
                box.value = 'queued ' + i;
                document.getElementById('composer').requestSubmit();
            }""")
        states = d.execute_script(
            "return Array.from(document.querySelectorAll('#outbox li'), li => li.dataset.state || 'queued');")
        self.assertEqual(states, ["queued"] * 50 + ["unsent"] * 2)
        self.shot(d, "unsent")

    def token_gateway(self):
        """A gateway with --jwt-secret (guests denied) beside the cluster's, on its layerd."""
        gw = self.own(Gateway(self.c.endpoints, id="gwt", workdir=self.workdir))
        gw.env = dict(os.environ, SWITCHBOARD_JWT_SECRET=SECRET)
        return gw.start()

    def test_a_refused_token_stops_the_retries_and_says_not_allowed(self):
        gw = self.token_gateway()
        d = self.browser()
        self.open_page(d, gw, "lobby")
        self.wait_state(d, "stopped")
        self.assertEqual(d.find_element(By.ID, "status").text, "not allowed")
        self.assertIn("not authenticated", self.notice(d))
        tries = d.execute_script("return sbChat.tries;")
        self.assertEqual(d.execute_script("return sbChat.checks;"), [403])
        time.sleep(3)  # a retry would have come after 0.5-1 s
        self.assertEqual(d.execute_script("return sbChat.tries;"), tries)
        self.shot(d, "not_allowed")
        # Control: the same page with a token for the room is let in, and
        # the token's user is the one shown.
        token = mint(claims(sub="u-7", name="Kim Lee", rooms=["lobby"]))
        self.open_page(d, gw, "lobby", "?token=" + urllib.parse.quote(token, safe=""))
        self.wait_state(d, "live")
        self.say(d, "signed in")
        self.wait_text(d, "signed in")
        line = self.lines(d)[-1]
        self.assertEqual((line["who"], line["own"], line["guest"]), ("Kim Lee", True, False))

    def test_the_index_page_leads_to_the_room_and_carries_the_token(self):
        gw = self.token_gateway()
        token = mint(claims(sub="u-9", name="김민아", rooms=["로비"]))
        d = self.browser()
        d.get(gw.http_url("/chat/?token=" + urllib.parse.quote(token, safe="")))
        self.assertEqual(d.title, "Chat Rooms")
        d.find_element(By.ID, "room-name-input").send_keys("로비", Keys.ENTER)
        want = gw.http_url("/chat/" + urllib.parse.quote("로비", safe="") + "/?token=" +
                           urllib.parse.quote(token, safe=""))
        self.wait(d, EC.url_to_be(want), f"navigation to {want}")
        self.wait_state(d, "live")
        self.assertEqual(d.title, "로비 · Chat")
        self.say(d, "네, 여기요")
        self.wait_text(d, "네, 여기요")
        self.assertEqual(self.lines(d)[-1]["who"], "김민아")  # a Korean name, in the CJK font
        self.shot(d, "korean")

    def test_a_room_no_route_serves_stops_with_no_such_room(self):
        d = self.browser()
        self.open_page(d, self.gwa, "a-b")  # a page for any name; sockets only for \w rooms
        self.wait_state(d, "stopped")
        self.assertEqual(d.find_element(By.ID, "status").text, "no such room")
        self.assertEqual(d.execute_script("return sbChat.checks;"), [404])

    def test_hostile_names_and_messages_stay_text(self):
        gw = self.token_gateway()
        name = '<img src=x onerror="alert(1)">'
        message = '<b>bold</b><script>alert(2)</script>&amp; \u202eevil'
        token = mint(claims(sub="h", name=name))
        d = self.browser()
        self.open_page(d, gw, "lobby", "?token=" + urllib.parse.quote(token, safe=""))
        self.wait_state(d, "live")
        self.say(d, message)
        self.wait_text(d, message)
        line = self.lines(d)[-1]
        self.assertEqual((line["who"], line["text"]), (name, message))
        self.assertEqual(d.execute_script(
            "return document.querySelectorAll('#log img, #log b, #log script').length;"), 0)
        time.sleep(0.5)
        self.assert_no_alert(d)
        self.shot(d, "hostile")
        # Control: an alert raised now IS seen.
        d.execute_script("setTimeout(function () { alert('control'); }, 0);")
        self.wait(d, EC.alert_is_present(), "the control alert")
        d.switch_to.alert.accept()

    def test_the_backoff_stays_within_its_bounds(self):
        d = self.browser()
        self.open_page(d, self.gwa, "lobby")
        self.wait_state(d, "live")
        samples = d.execute_script("""
            const out = [];
            for (let n = 0; n < 8; n++) {
                let lo = Infinity, hi = 0;
                for (let i = 0; i < 400; i++) {
                    const v = sbChat.backoffDelay(n);
                    lo = Math.min(lo, v); hi = Math.max(hi, v);
                }
                out.push([lo, hi]);
            }
            return out;""")
        for n, (lo, hi) in enumerate(samples):
            cap = min(30000, 1000 * 2 ** n)
            self.assertGreaterEqual(lo, cap / 2, n)
            self.assertLessEqual(hi, cap, n)
            self.assertLess(lo, cap * 0.6, f"n={n}: the low end of [1/2, 1] is used")
            self.assertGreater(hi, cap * 0.9, f"n={n}: the high end is used")

    def test_a_line_published_twice_with_one_id_is_shown_once_at_its_time(self):
        # What the layerd stamps when history is on (an id), here sent by a
        # publisher (switchboard-cli, as a Django app or a cron job would):
        # the page keys lines by id, so a replay that overlaps shows nothing
        # twice, and shows the id's milliseconds as the line's time.
        d = self.browser()
        self.open_page(d, self.gwa, "ops")
        self.wait_state(d, "live")
        ts = 1700000000123
        event = {"type": "chat.message", "message": "deploy finished", "id": f"{ts}-0",
                 "user": {"id": "ops", "name": "Ops bot"}}
        for _ in range(2):
            r = subprocess.run([str(CLI_BIN), "--layerd", self.c.layerds[0].endpoint, "--redis", self.c.redis.url,
                                "--timeout-ms", "3000", "group-send", "chat_ops", json.dumps(event)],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.say(d, "after the two")  # delivered behind both copies (one group, one order)
        self.wait_text(d, "after the two")
        self.assertEqual(self.texts(d), ["deploy finished", "after the two"])
        line = self.lines(d)[0]
        self.assertEqual((line["id"], line["who"], line["guest"], line["own"]), (f"{ts}-0", "Ops bot", False, False))
        self.assertEqual(d.execute_script("return document.querySelector('#log time').dateTime;"),
                         "2023-11-14T22:13:20.123Z")
        self.assertEqual(d.execute_script("return sbChat.lastId;"), f"{ts}-0")

    def test_history_fills_the_page_and_a_reconnect_recovers_what_was_missed(self):
        # The harness starts layerd with history off; this room keeps it.
        self.c = self.start_cluster(layerds=1, gateways=2, layerd_args=("--history", "chat_* 100 24h"))
        self.gwa, self.gwb = self.c.gateways
        self.assertTrue(arun(server_has_history(self.gwa, "probe_hist"), 20),
                        "a ?history=1 line carries no id: this server keeps no history")
        room = "hist"

        async def seed():
            ws = await ws_connect(self.gwb, room)
            try:
                for i in range(3):
                    await send_msg(ws, f"old {i}")
                    await recv_json(ws, 5)
            finally:
                await ws.close()
        arun(seed(), 20)
        alice, bob = self.browser(), self.browser()
        self.open_page(alice, self.gwa, room)
        self.wait(alice, lambda d: self.texts(d)[:3] == ["old 0", "old 1", "old 2"], "the replayed history")
        self.assertTrue(all(l["history"] and l["id"] for l in self.lines(alice)[:3]))
        self.open_page(bob, self.gwb, room)
        self.wait_state(bob, "live")
        port = self.gwa.port
        self.gwa.kill()
        self.wait_state(alice, "reconnecting")
        self.say(bob, "missed 1")
        self.say(bob, "missed 2")
        self.own(Gateway(self.c.endpoints, id="gwa2", port=port, workdir=self.workdir)).start()
        self.wait_state(alice, "live", RECONNECT_WAIT)
        self.wait(alice, lambda d: self.texts(d)[-2:] == ["missed 1", "missed 2"], "the recovered lines")
        time.sleep(1)
        texts = self.texts(alice)
        self.assertEqual(len(texts), len(set(texts)), texts)
        self.assertEqual(alice.execute_script("return sbChat.recovery;"), {"complete": True, "count": 2})
        self.assertEqual(self.notice(alice), "")

    def heartbeat(self, driver, every_ms, timeout_ms):
        driver.execute_script("sbChat.heartbeatMs = arguments[0]; sbChat.heartbeatTimeoutMs = arguments[1];",
                              every_ms, timeout_ms)

    def sb(self, driver, name):
        return driver.execute_script("return sbChat[arguments[0]];", name)

    def test_a_half_open_connection_is_noticed_and_what_was_missed_arrives_once(self):
        # The page reaches gateway a through a relay on loopback; freezing
        # the relay's connections (nothing relayed either way, nothing
        # closed: a NAT that forgot the flow) leaves the page's socket
        # "open" with nothing arriving. Only the heartbeat can tell.
        self.c = self.start_cluster(layerds=1, gateways=2, layerd_args=("--history", "chat_* 100 24h"))
        self.gwa, self.gwb = self.c.gateways
        self.assertTrue(arun(server_has_history(self.gwa, "probe_nat"), 20),
                        "a ?history=1 line carries no id: this server keeps no history")
        relay = TcpRelay(self.gwa.port)
        self.addCleanup(relay.close)
        room = "nat"

        async def bob_says(text):  # another client, on gateway b
            ws = await ws_connect(self.gwb, room)
            try:
                await send_msg(ws, text)
                await recv_until(ws, lambda m: m.get("message") == text, 10)
            finally:
                await ws.close()
        alice = self.browser()
        alice.get(f"http://127.0.0.1:{relay.port}/chat/{room}/")
        self.wait_state(alice, "live")
        self.assertEqual((self.sb(alice, "heartbeatMs"), self.sb(alice, "heartbeatTimeoutMs")), (25000, 10000))
        arun(bob_says("before the freeze"), 20)
        self.wait_text(alice, "before the freeze", "alice")
        # Every status the page shows from now on, as it shows it.
        alice.execute_script("""
            const s = document.getElementById('status');
            window.sbShown = [];
            new MutationObserver(() => sbShown.push(s.dataset.state + '|' + s.textContent))
                .observe(s, {attributes: true, childList: true, characterData: true, subtree: true});""")
        self.heartbeat(alice, 1000, 1000)
        relay.blackhole()
        arun(bob_says("said during the freeze"), 20)
        # Said while alice's socket was the frozen one: not shown, no reconnect yet.
        self.assertEqual((self.sb(alice, "opens"), self.sb(alice, "heartbeatDrops")), (1, 0))
        self.assertNotIn("said during the freeze", self.texts(alice))
        self.wait(alice, lambda d: self.state(d) != "live", "alice to leave live", 10)
        self.shot(alice, "reconnecting")
        self.assertEqual(self.sb(alice, "heartbeatDrops"), 1)
        self.assertGreaterEqual(self.sb(alice, "pings"), 1)
        if self.state(alice) == "reconnecting":
            self.assertFalse(self.sb(alice, "beating"), "no heartbeat without a socket")
        self.wait_state(alice, "live", 15)
        shown = alice.execute_script("return sbShown;")
        self.assertRegex(shown[0], r"^reconnecting\|reconnecting in \d+ s$", shown)
        self.assertEqual(shown[-1], "live|live", shown)
        self.wait_text(alice, "said during the freeze", "alice (recovered with ?since=)")
        self.assertEqual(self.sb(alice, "opens"), 2)
        self.assertEqual(self.sb(alice, "recovery"), {"complete": True, "count": 1})
        arun(bob_says("after the freeze"), 20)
        self.wait_text(alice, "after the freeze", "alice")
        self.assertEqual(self.texts(alice), ["before the freeze", "said during the freeze", "after the freeze"])
        self.assertEqual(self.notice(alice), "")
        self.shot(alice, "live_again")

    def test_an_idle_page_pings_and_stays_live(self):
        d = self.browser()
        self.open_page(d, self.gwa, "quiet")
        self.wait_state(d, "live")
        before = scrape_metrics(self.gwa.port)["switchboard_gateway_pings_total"]
        self.heartbeat(d, "700", None)  # not numbers: ignored
        self.assertEqual((self.sb(d, "heartbeatMs"), self.sb(d, "heartbeatTimeoutMs")), (25000, 10000))
        self.heartbeat(d, 1, 0)  # raised to the floor that keeps pings under the rate limit
        self.assertEqual((self.sb(d, "heartbeatMs"), self.sb(d, "heartbeatTimeoutMs")), (100, 100))
        self.heartbeat(d, 700, 1500)
        self.wait(d, lambda d: self.sb(d, "pongs") >= 4, "four pongs (about four heartbeat periods)", 15)
        self.assertEqual(self.state(d), "live")
        self.assertEqual((self.sb(d, "opens"), self.sb(d, "heartbeatDrops")), (1, 0))
        self.assertLessEqual(self.sb(d, "pings") - self.sb(d, "pongs"), 1)
        self.assertGreaterEqual(scrape_metrics(self.gwa.port)["switchboard_gateway_pings_total"] - before, 4)
        self.assertEqual(self.texts(d), [], "a pong is not a line")
        self.shot(d, "idle_live")
        self.assert_console_clean(d, self.gwa)
        # Leaving the page (kept for Back) stops the heartbeat with the socket.
        self.assertTrue(self.sb(d, "beating"))
        d.execute_script("window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}));")
        self.assertEqual((self.sb(d, "beating"), self.sb(d, "socket")), (False, None))

    def test_presence_lists_who_is_here(self):
        self.assertTrue(arun(server_has_presence(self.gwa, "probe_pres"), 20),
                        "?presence=1 got no presence frame in 2 s")
        alice, bob = self.browser(), self.browser()
        self.open_page(alice, self.gwa, "here")
        self.wait_state(alice, "live")
        self.open_page(bob, self.gwb, "here")
        self.wait_state(bob, "live")
        self.wait(alice, lambda d: d.find_element(By.ID, "presence-n").text == "2", "two people here", 15)
        names = alice.execute_script(
            "return Array.from(document.querySelectorAll('#presence-list li'), li => li.firstChild.textContent);")
        self.assertEqual(len(names), 2, names)
        self.shot(alice, "presence")
        bob.get("about:blank")
        self.wait(alice, lambda d: d.find_element(By.ID, "presence-n").text == "1", "one person left", 15)


if __name__ == "__main__":
    unittest.main()
