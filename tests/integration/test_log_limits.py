# Log lines an outsider can cause are rate-limited: one line per site per
# interval (common/limits.hpp log_interval_ms, 5 s), and the next line that
# is logged says how many were left out (`suppressed=N`). Why: a client
# sending malformed frames, or a peer sending garbage to layerd's port, could
# otherwise write a line per message and fill the disk or bury what an
# operator needs (docs/architecture.md, rule 4). The counters still count
# every event; only the log is thinned. Real processes on loopback.
import asyncio
import os
import resource
import socket
import time
import unittest

import zmq

from harness import Clients, ProcessTestCase, arun, await_until, recv_json, wait_until

FLOOD = 300
INTERVAL_S = 5.0  # common/limits.hpp log_interval_ms


def lines_with(text: str, marker: str):
    return [ln for ln in text.splitlines() if marker in ln]


class OutsiderLogLines(ProcessTestCase):

    def setUp(self):
        # a rate limit above the flood, so the socket stays open to the end
        self.c = self.start_cluster(layerds=1, gateways=1, gateway_args=["--rate-limit", "2000", "--rate-burst", "2000"])
        self.gw = self.c.gateways[0]
        self.layerd = self.c.layerds[0]

    def test_a_flood_of_bad_frames_logs_one_line_then_the_count(self):
        async def body():
            async with Clients() as cl:
                ws = await cl.connect(self.gw, "logflood")
                started = time.monotonic()
                for i in range(FLOOD):
                    await ws.send("not json")
                    err = await recv_json(ws, 5)  # every one is still answered
                    self.assertEqual(err.get("code"), "bad_json", err)
                # inside one interval: one line (two if the flood crossed an interval's end)
                if time.monotonic() - started < INTERVAL_S:
                    self.assertEqual(len(lines_with(self.gw.log_text(), "bad frame")), 1,
                                     self.gw.log_text()[-2000:])
                # after the interval, the next bad frame is logged with the count left out
                wait_s = INTERVAL_S - (time.monotonic() - started) + 0.2
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                await ws.send("still not json")
                await recv_json(ws, 5)
                last = await await_until(lambda: [ln for ln in lines_with(self.gw.log_text(), "bad frame")
                                                  if "suppressed=" in ln and "suppressed=0" not in ln],
                                         5, "a bad-frame line with the suppressed count")
                suppressed = sum(int(ln.rsplit("suppressed=", 1)[1].split()[0]) for ln in last)
                logged = len(lines_with(self.gw.log_text(), "bad frame"))
                # every event is either a line or counted in one
                self.assertEqual(suppressed + logged, FLOOD + 1, self.gw.log_text()[-2000:])
        arun(body(), 60)

    def test_garbage_on_layerds_port_logs_one_line_per_interval(self):
        ctx = zmq.Context()
        self.addCleanup(ctx.term)
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IDENTITY, os.urandom(8))
        s.connect(self.layerd.endpoint)
        self.addCleanup(s.close)
        started = time.monotonic()
        for _ in range(FLOOD):
            s.send_multipart([os.urandom(5), os.urandom(20), os.urandom(3)])  # not [kind, body]
        # Then a message layerd answers (ERROR for a body that does not decode):
        # ROUTER keeps one peer's messages in order, so the answer means every
        # garbage message before it has been read.
        s.send_multipart([b"\x02", b"\xc1"])
        self.assertTrue(s.poll(10000), "layerd never answered")
        marker = 'reason="expected [kind, body]"'
        if time.monotonic() - started < INTERVAL_S:
            self.assertEqual(len(lines_with(self.layerd.log_text(), marker)), 1, self.layerd.log_text()[-2000:])
        self.assertTrue(self.layerd.alive())


    def test_accept_failing_for_want_of_descriptors_logs_one_line_per_interval(self):
        # The gateway may open only a few more descriptors than it has now;
        # the connections past that wait in the listen backlog while accept()
        # fails with EMFILE and is retried every 100 ms.
        pid = self.gw.proc.pid
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 4, hard))  # the soft limit only
        socks = []
        try:
            started = time.monotonic()
            for _ in range(20):
                socks.append(socket.create_connection(("127.0.0.1", self.gw.port), timeout=2))
            marker = "accept failed"
            wait_until(lambda: lines_with(self.gw.log_text(), marker), 5, "an accept-failed line")
            time.sleep(2.0)  # twenty retries' worth: each would have been a line
            if time.monotonic() - started < INTERVAL_S:
                self.assertEqual(len(lines_with(self.gw.log_text(), marker)), 1, self.gw.log_text()[-2000:])
        finally:
            for c in socks:
                c.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        self.assertTrue(self.gw.alive())

if __name__ == "__main__":
    unittest.main()
