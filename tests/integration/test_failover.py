# Nothing lost on failover: a layerd killed with SIGKILL under traffic costs
# the chat a pause, not messages. 2 layerds, 2 gateways, 20 rooms, in each a
# sender sending a numbered message every 50 ms and a receiver on each
# gateway; layerd0 is killed mid-traffic. Every receiver (the sender's own
# socket included) must get every message exactly once and in order: the
# gateways keep each group_send until its layerd acknowledges it, re-send
# the unacknowledged ones to the new owner, and drop duplicates
# (docs/protocol.md, "Acknowledged group_sends"). The scenario is
# bench/failover.py's, which also prints the recovery time for
# bench/RESULTS.md. Real processes and sockets on loopback.
import asyncio
import signal
import sys
import unittest

import msgpack
import zmq

from harness import (REPO, Clients, ProcessTestCase, arun, await_until, recv_json, scrape_metrics, send_msg,
                     wait_until)

sys.path.insert(0, str(REPO / "bench"))
from failover import run_failover  # noqa: E402


class Failover(ProcessTestCase):

    def test_a_killed_layerd_loses_no_message_and_duplicates_none(self):
        r = run_failover(self, rooms=20, interval=0.05, before=2.0, after=4.0, drain=20.0)
        summary = {k: v for k, v in r.items() if not k.startswith("_")}
        problems = []
        for room, sent in r["_sent"].items():
            for who in ("sender", "gw0", "gw1"):
                got = [n for n, _ in r["_got"].get((room, who), [])]
                if got != sent:
                    missing = sorted(set(sent) - set(got))
                    problems.append(f"{room}/{who}: {len(got)} of {len(sent)}, missing {missing[:10]}, "
                                    f"first 20 out of place {[n for i, n in enumerate(got) if i >= len(sent) or sent[i] != n][:20]}")
        self.assertEqual(problems, [], f"{summary}\n" + "\n".join(problems[:20]))
        self.assertEqual((summary["lost"], summary["duplicates"], summary["reordered"]), (0, 0, 0), summary)
        sys.stderr.write(f"\nfailover: {summary}\n")


    def test_sends_past_the_unacked_bound_are_refused_with_an_error_frame(self):
        # layerd paused: nothing is acknowledged, so the gateway's journal
        # fills; past --unacked-max-messages the client is told, never silent
        c = self.start_cluster(layerds=1, gateways=1, gateway_args=["--unacked-max-messages", "5"])
        gw, layerd = c.gateways[0], c.layerds[0]

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, "full")
                layerd.signal_group(signal.SIGSTOP)
                try:
                    for i in range(8):
                        await send_msg(ws, f"m{i}")
                    err = await recv_json(ws, 10)
                    self.assertEqual((err.get("type"), err.get("code")), ("error", "overloaded"), err)
                    m = scrape_metrics(gw.port)
                    self.assertEqual(m["switchboard_gateway_group_sends_refused_total"], 3)
                    self.assertEqual(m["switchboard_gateway_group_sends_unacked"], 5)
                    self.assertIn("group_send refused", gw.log_text())
                finally:
                    layerd.signal_group(signal.SIGCONT)
                # two more refusals, then the five kept ones, delivered once layerd is back, in order
                frames = [await recv_json(ws, 20) for _ in range(7)]
                self.assertEqual([f.get("code") for f in frames[:2]], ["overloaded"] * 2, frames)
                self.assertEqual([f.get("message") for f in frames[2:]], [f"m{i}" for i in range(5)])
                await await_until(lambda: scrape_metrics(gw.port)["switchboard_gateway_group_sends_unacked"] == 0,
                                  20, "the journal empties")
        arun(body(), 90)

    def test_layerd_acknowledges_numbered_sends_and_names_their_origin(self):
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        ctx = zmq.Context()
        self.addCleanup(ctx.destroy, 0)
        gid = "rawgw.0123456789abcdef"
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, gid.encode())
        sock.connect(layerd.endpoint)
        sock.send_multipart([bytes([1]), msgpack.packb([1, 2, gid, 0])])
        self.assertTrue(sock.poll(10000))
        self.assertEqual(sock.recv_multipart()[0], bytes([2]))
        sock.send_multipart([bytes([11]), msgpack.packb([["chat_raw", [f"specific.{gid}!1"]]])])
        event = msgpack.packb({"type": "chat.message", "message": "x"})
        for seq in (1, 2, 3):
            sock.send_multipart([bytes([5]), msgpack.packb(["chat_raw", event, seq, 100 + seq], use_bin_type=True)])
        sock.send_multipart([bytes([5]), msgpack.packb(["chat_raw", event], use_bin_type=True)])  # a 1.1 send
        delivers, acks = [], []
        wait_until(lambda: self._drain(sock, delivers, acks) and len(delivers) == 4 and acks and acks[-1] == 3,
                   10, "four deliveries and an ack of seq 3")
        self.assertEqual([d[2:] for d in delivers[:3]], [[gid, 101], [gid, 102], [gid, 103]])
        self.assertEqual(len(delivers[3]), 2)  # no origin: nothing to de-duplicate by
        self.assertLessEqual(len(acks), 3)
        self.assertEqual(acks, sorted(acks))

    @staticmethod
    def _drain(sock, delivers, acks):
        while sock.poll(50):
            kind, body = sock.recv_multipart()
            if kind == bytes([12]):
                delivers.append(msgpack.unpackb(body))
            elif kind == bytes([13]):
                acks.append(msgpack.unpackb(body)[0])
        return True


if __name__ == "__main__":
    unittest.main()
