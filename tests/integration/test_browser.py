# Browser tests: a real headless Chromium runs the seed's pages, served by
# Switchboard under /classic/chat/ (the chat page at /chat/ has its own
# suite, test_chat_page.py), against real processes (1 redis-server, 1 layerd, 2 gateways,
# started by harness.py). Covers what only a browser can show: the seed's
# room.html script works unchanged (its WebSocket URL built by the browser's
# URL parser, Enter in #chat-message-input turned into a click by onkeyup,
# #chat-log filled from onmessage) across two gateways and two users; the
# index page's navigation to a non-ASCII room (the browser percent-encodes
# it) and that room's socket; a hostile room name stays inert when the browser
# parses the page (no alert, JSON.parse gives the exact name back); and the
# console has no errors on a normal room page.
#
# Why it is shaped this way: the other suites speak the protocol with Python
# clients, which cannot catch an HTML/JS embedding mistake or a URL-encoding
# mismatch between what a browser sends and what the gateway expects. Each
# test gets its own processes (ProcessTestCase) and its own browsers
# (harness_browser.py: profiles, process groups, bounded waits, and the
# skip when chromium, chromium-driver or python3-selenium is missing).
import unittest
import urllib.parse

from harness import make_self_signed, wait_until
from harness_browser import MISSING, SKIP_REASON, BrowserTestCase, By, EC, Keys

HOSTILE = "</script><script>alert(1)</script>"


@unittest.skipIf(MISSING, SKIP_REASON)
class BrowserChat(BrowserTestCase):

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2)
        self.gwa, self.gwb = self.c.gateways

    # ---------------------------------------------------------------- helpers

    def socket_state(self, driver):
        """room.html's chatSocket.readyState (1 = OPEN), or None before it exists."""
        return driver.execute_script(
            "return typeof chatSocket === 'undefined' ? null : chatSocket.readyState;")

    def wait_socket_open(self, driver):
        self.wait(driver, lambda d: self.socket_state(d) == 1,
                  f"room.html's chatSocket to open on {driver.current_url}")

    def open_room(self, driver, gw, room: str):
        driver.get(gw.http_url("/classic/chat/" + urllib.parse.quote(room, safe="") + "/"))
        self.assertEqual(driver.title, "Chat Room")
        self.wait_socket_open(driver)

    def chat_log(self, driver):
        return driver.find_element(By.ID, "chat-log").get_property("value")

    def chat_lines(self, driver):
        return [line for line in self.chat_log(driver).split("\n") if line]

    def say(self, driver, text: str):
        """Type into #chat-message-input and press Enter, as a user would."""
        box = driver.find_element(By.ID, "chat-message-input")
        box.send_keys(text, Keys.ENTER)
        # room.html's onclick empties the input after chatSocket.send().
        self.wait(driver, lambda d: box.get_property("value") == "",
                  "the seed's onclick to send and clear the input")

    def room_name(self, driver):
        return driver.execute_script(
            "return JSON.parse(document.getElementById('room-name').textContent);")

    # ------------------------------------------------------------------ tests

    def test_two_browsers_on_different_gateways_both_show_both_messages_in_the_same_order(self):
        alice, bob = self.browser(), self.browser()
        self.open_room(alice, self.gwa, "lobby")
        self.open_room(bob, self.gwb, "lobby")
        a_line, b_line = "hello from alice on A", "안녕 from bob on B <b>&amp;"
        # Both type before either waits, so the two messages race through
        # layerd; whatever order it picks, both logs must show that order.
        self.say(alice, a_line)
        self.say(bob, b_line)
        for who, d in (("alice", alice), ("bob", bob)):
            self.wait(d, lambda d: len(self.chat_lines(d)) >= 2,
                      f"{who}'s #chat-log to hold two lines")
        a_log, b_log = self.chat_lines(alice), self.chat_lines(bob)
        self.assertCountEqual(a_log, [a_line, b_line])
        self.assertEqual(a_log, b_log)
        self.assertEqual(self.chat_log(alice), "".join(m + "\n" for m in a_log))

    def test_the_room_page_over_https_chats_over_wss_with_a_plain_http_browser(self):
        cert, key = make_self_signed(self.workdir, "gw")
        gw_tls = self.start_gateway(self.c.endpoints, id="gwtls", tls=(cert, key))
        # The certificate is self-signed, so this browser is told to accept it.
        alice = self.browser(["--ignore-certificate-errors"])
        bob = self.browser()
        self.open_room(alice, gw_tls, "lobby")
        self.assertTrue(alice.current_url.startswith("https://"), alice.current_url)
        self.assertTrue(alice.execute_script("return chatSocket.url;").startswith("wss://"))
        self.open_room(bob, self.gwa, "lobby")
        self.say(alice, "over wss")
        self.say(bob, "over ws")
        for who, d in (("alice", alice), ("bob", bob)):
            self.wait(d, lambda d: len(self.chat_lines(d)) >= 2, f"{who}'s #chat-log to hold two lines")
            self.assertCountEqual(self.chat_lines(d), ["over wss", "over ws"])

    def test_a_korean_room_entered_from_the_index_page_echoes_messages(self):
        room = "로비"
        d = self.browser()
        d.get(self.gwa.http_url("/classic/chat/"))
        self.assertEqual(d.title, "Chat Rooms")
        d.find_element(By.ID, "room-name-input").send_keys(room, Keys.ENTER)
        want = self.gwa.http_url("/classic/chat/" + urllib.parse.quote(room, safe="") + "/")
        self.wait(d, EC.url_to_be(want), f"navigation to {want}")
        self.wait(d, lambda d: d.execute_script("return document.readyState") == "complete",
                  "the room page to load")
        self.assertEqual(d.title, "Chat Room")
        self.assertEqual(self.room_name(d), room)
        self.wait_socket_open(d)
        # The socket really is in the room's (hashed) group, in Redis.
        members = wait_until(lambda: self.c.members(room), 5, f"a member of {room} in Redis")
        self.assertEqual(len(members), 1, members)
        self.say(d, "hi 로비 👋")
        self.wait(d, lambda d: self.chat_lines(d) == ["hi 로비 👋"],
                  "the message echoed into #chat-log")

    def test_a_hostile_room_name_shows_no_alert_and_parses_back_exactly(self):
        d = self.browser()
        d.get(self.gwa.http_url("/classic/chat/" + urllib.parse.quote(HOSTILE, safe="") + "/"))
        # First thing after the load: while an alert is open every other
        # command fails with "unexpected alert open".
        self.assert_no_alert(d)
        self.assertEqual(d.execute_script("return document.readyState"), "complete")
        self.assertEqual(d.title, "Chat Room")
        self.assertEqual(self.room_name(d), HOSTILE)
        # Only the page's two scripts: the json_script element and room.html's.
        scripts = d.execute_script(
            "return Array.from(document.scripts, s => s.id || s.type || 'inline');")
        self.assertEqual(scripts, ["room-name", "inline"])
        # room.html's script ran (it defines chatSocket) rather than being cut
        # short by an injected </script>.
        self.assertIsNotNone(self.socket_state(d))
        self.assert_no_alert(d)
        # Control: an alert raised now IS seen, so the check above can fail.
        d.execute_script("setTimeout(function () { alert('control'); }, 0);")
        self.wait(d, EC.alert_is_present(), "the control alert")
        alert = d.switch_to.alert
        self.assertEqual(alert.text, "control")
        alert.accept()

    def test_the_browser_console_has_no_errors_on_a_normal_room_page(self):
        d = self.browser()
        self.open_room(d, self.gwb, "lobby")
        self.say(d, "console check")
        self.wait(d, lambda d: self.chat_lines(d) == ["console check"],
                  "the message echoed into #chat-log")
        self.assert_console_clean(d, self.gwb)


if __name__ == "__main__":
    unittest.main()
