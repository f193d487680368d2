# The heartbeat on the built-in routes (docs/protocol.md, Heartbeat): a
# text frame {"type": "ping"} gets {"type": "pong"} back on its own socket,
# reaches nobody else, is counted in switchboard_gateway_pings_total, and
# takes from the socket's rate limit like any message, so a flood of pings
# is closed as a flood of messages is (1008 "rate limit"). Real
# redis-server, layerd and two gateways on loopback; websockets clients.
# The chat page's use of it (a half-open connection noticed) is in
# test_chat_page.py.
import json

import websockets
import websockets.exceptions

from harness import (Clients, ProcessTestCase, arun, expect_close, recv_json, scrape_metrics, send_msg)

PING = json.dumps({"type": "ping"})
PONG = {"type": "pong"}
RATE = ["--rate-limit", "5", "--rate-burst", "10"]


def pings(gw):
    return scrape_metrics(gw.port)["switchboard_gateway_pings_total"]


def rate_closes(gw):
    return scrape_metrics(gw.port)['switchboard_gateway_closes_total{reason="rate_limited"}']


class Heartbeat(ProcessTestCase):

    def setUp(self):
        self.c = self.start_cluster(layerds=1, gateways=2, gateway_args=RATE)
        self.gwa, self.gwb = self.c.gateways

    def test_a_ping_gets_a_pong_on_its_own_socket_and_reaches_nobody_else(self):
        before = scrape_metrics(self.gwa.port)

        async def body():
            async with Clients() as cl:
                alice = await cl.connect(self.gwa, "beat")
                near = await cl.connect(self.gwa, "beat")  # same gateway
                far = await cl.connect(self.gwb, "beat")   # another gateway
                await alice.send(PING)
                self.assertEqual(await recv_json(alice), PONG)
                await alice.send(json.dumps({"type": "ping", "ref": 7, "n": {"message": "not this"}}))
                self.assertEqual(await recv_json(alice), PONG, "extra fields: answered the same")
                # A frame with a message is a chat message, whatever its type.
                await alice.send(json.dumps({"type": "ping", "message": "typed"}))
                await send_msg(alice, "after the pings")
                # One group, one order: had a ping gone to the room, it would come first.
                for ws in (alice, near, far):
                    self.assertEqual((await recv_json(ws))["message"], "typed")
                    self.assertEqual((await recv_json(ws))["message"], "after the pings")
        arun(body(), 30)
        after = scrape_metrics(self.gwa.port)
        self.assertEqual(after["switchboard_gateway_pings_total"] - before["switchboard_gateway_pings_total"], 2)
        self.assertEqual(after["switchboard_gateway_error_frames_total"], before["switchboard_gateway_error_frames_total"])
        self.assertEqual(pings(self.gwb), 0)

    def test_a_frame_that_is_not_a_ping_is_answered_as_before(self):
        async def body():
            async with Clients() as cl:
                ws = await cl.connect(self.gwa, "beat")
                for frame, code in (('{"type": "pong"}', "bad_message"), ('{"type": "PING"}', "bad_message"),
                                    ('{"type": ["ping"]}', "bad_message"), ('{"type": "ping"', "bad_json")):
                    await ws.send(frame)
                    self.assertEqual((await recv_json(ws))["code"], code, frame)
                await ws.send(PING)
                self.assertEqual(await recv_json(ws), PONG, "the socket stayed open")
        arun(body(), 30)

    def test_the_notification_socket_answers_a_ping_and_refuses_the_rest(self):
        url = f"ws://127.0.0.1:{self.gwb.port}/ws/notification/ops/"

        async def body():
            async with websockets.connect(url, open_timeout=10, ping_interval=None, close_timeout=2) as ws:
                await ws.send(PING)
                self.assertEqual(await recv_json(ws), PONG)
                await ws.send(json.dumps({"type": "ping", "message": "hi"}))
                self.assertEqual((await recv_json(ws))["code"], "not_accepted")
                await ws.send(json.dumps({"type": "ping", "data": [1, 2]}))
                self.assertEqual(await recv_json(ws), PONG)
        arun(body(), 30)
        self.assertEqual(pings(self.gwb), 2)

    def flood(self, frame):
        """Sends `frame` 200 times on one socket of a room with a bystander;
        returns the close the flooder got, what it received before it, and
        whether the bystander still hears the room."""
        async def body():
            async with Clients() as cl:
                by = await cl.connect(self.gwb, "flood")
                bad = await cl.connect(self.gwa, "flood")
                try:
                    for _ in range(200):
                        await bad.send(frame)
                except websockets.exceptions.ConnectionClosed:
                    pass  # the server may close while we still send
                got = []
                try:
                    for _ in range(1000):
                        got.append(await recv_json(bad, 10))
                except websockets.exceptions.ConnectionClosed:
                    pass
                code, reason = await expect_close(bad, 10)
                fine = await cl.connect(self.gwa, "flood")
                await send_msg(fine, "still here")
                heard = []
                for _ in range(1000):  # the flooded messages that got through come first
                    m = await recv_json(by, 10)
                    heard.append(m.get("message"))
                    if heard[-1] == "still here":
                        break
                return (code, reason), got, heard
        return arun(body(), 30)

    def test_pings_count_against_the_rate_limit_as_messages_do(self):
        closes = rate_closes(self.gwa)
        (code, reason), got, heard = self.flood(PING)
        self.assertEqual((code, reason), (1008, "rate limit"))
        self.assertTrue(got and all(m == PONG for m in got), got[:5])
        self.assertLess(len(got), 200, "the limit stopped the pings")
        self.assertEqual(heard, ["still here"], "no ping reached the room")
        self.assertEqual(rate_closes(self.gwa), closes + 1)
        # Control: the same flood of messages gets the same answer.
        (code, reason), _, heard = self.flood(json.dumps({"message": "m"}))
        self.assertEqual((code, reason), (1008, "rate limit"))
        self.assertEqual(heard[-1], "still here")
        self.assertGreater(len(heard), 1, "the messages under the limit reached the room")
        self.assertEqual(rate_closes(self.gwa), closes + 2)


if __name__ == "__main__":
    import unittest
    unittest.main()
