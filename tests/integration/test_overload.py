# Overload, against real processes: the gateway's policy when send queues
# fill (docs/architecture.md, rule 4 and "Overload"). A member whose queue
# is full loses the deliveries that do not fit (counted, logged once per
# interval with a rate) and is closed with 1008 "slow consumer" only when
# its queue stays full for --slow-consumer-ms. Why: when a whole room falls
# behind for a moment (every member's queue fills together), closing every
# member empties the room; the test for that is the room whose readers all
# pause at once and must all still be there afterwards, while a reader that
# never reads again is still shed and the readers that keep up get
# everything.
import asyncio
import json
import re
import signal
import threading
import time
import unittest

from harness import (Clients, ProcessTestCase, RawWebSocket, arun, await_until, recv_n,
                     recv_until, scrape_metrics, send_msg)

QUEUE_ARGS = ["--send-queue-messages", "64", "--send-queue-bytes", "262144",
              "--rate-limit", "100000", "--rate-burst", "100000"]
PAD = "z" * 20000  # 20 kB a message: a paused reader's kernel buffers fill within a few dozen
DROPPED = "switchboard_gateway_deliveries_dropped_total"
SLOW = 'switchboard_gateway_closes_total{reason="slow_consumer"}'
BEHIND = "switchboard_gateway_connections_behind"
# The first line of a run has no rate yet; the next ones give count and rate.
DROP_LINE = re.compile(r"send queues full: (started dropping deliveries|"
                       r"dropped \d+ deliveries in the last [\d.]+ s \(\d+/s\))")


class PausedReader:
    """A raw WebSocket (tiny receive buffer) that reads nothing until
    resume(), then reads on a thread until it sees a message with `tag` or
    a close frame."""

    def __init__(self, port, room):
        self.ws = RawWebSocket(port, f"/ws/chat/{room}/")
        self.messages, self.close_payload, self.done = [], None, threading.Event()

    def resume(self, tag):
        threading.Thread(target=self._read, args=(tag,), daemon=True).start()

    def _frame(self):
        head = self.ws._read_exact(2)
        if head is None:
            return None
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n >= 126:
            n = int.from_bytes(self.ws._read_exact(2 if n == 126 else 8) or b"", "big")
        payload = self.ws._read_exact(n)
        return None if payload is None else (opcode, payload)

    def _read(self, tag):
        try:
            while (frame := self._frame()) is not None:
                opcode, payload = frame
                if opcode == 8:
                    self.close_payload = payload
                    return
                if opcode == 1:
                    self.messages.append(json.loads(payload)["message"])
                    if self.messages[-1] == tag:
                        return
        except OSError:
            return
        finally:
            self.done.set()

    def numbers(self):
        return [int(m[:6]) for m in self.messages if m[:6].isdigit()]


class Overload(ProcessTestCase):
    def start(self, gateway_args=QUEUE_ARGS):
        self.c = self.start_cluster(layerds=1, gateways=2, gateway_args=gateway_args)
        self.gwa, self.gwb = self.c.gateways

    def metric(self, name):
        return scrape_metrics(self.gwa.port).get(name, 0)

    async def fill_queues(self, sender, readers, first=0, limit=3000):
        """Sends numbered 20 kB messages in batches of 10, each batch read by
        `readers` (who keep up), until gwa says it dropped deliveries; stops
        early if gwa closes a slow consumer instead. Returns the next number."""
        k = first
        while k < first + limit:
            for _ in range(10):
                await send_msg(sender, f"{k:06d}" + PAD)
                k += 1
            for ws in readers:
                await recv_n(ws, 10, 20)
            m = scrape_metrics(self.gwa.port)
            if m.get(SLOW, 0) > 0 or m.get(DROPPED, 0) >= 20:
                break
        self.assertEqual(self.metric(SLOW), 0,
                         "gwa closed members as slow consumers as soon as their queues filled")
        self.assertGreater(self.metric(DROPPED), 0, f"gwa never dropped a delivery in {k - first} messages")
        return k

    def drop_lines(self):
        return DROP_LINE.findall(self.gwa.log_text())

    def test_a_room_whose_readers_all_pause_keeps_every_member(self):
        """The issue's case: every member's queue fills at once. None is closed;
        each misses some messages (counted), keeps its order, and gets the
        messages after the pause."""
        self.start()
        room = "pause"

        async def body():
            async with Clients() as cl:
                paused = [PausedReader(self.gwa.port, room) for _ in range(3)]
                for p in paused:
                    self.addCleanup(p.ws.close)
                    self.assertEqual(p.ws.status, 101)
                sender = await cl.connect(self.gwb, room)
                await await_until(lambda: len(self.c.members(room)) == 4, 10, "4 members")
                t0 = time.monotonic()
                k = await self.fill_queues(sender, [sender])
                for p in paused:
                    p.resume("after pause")
                await send_msg(sender, "after pause")
                await recv_until(sender, lambda m: m.get("message") == "after pause", 20)
                for p in paused:
                    await asyncio.to_thread(p.done.wait, 30)
                    self.assertIsNone(p.close_payload, f"closed: {p.close_payload!r}")
                    self.assertEqual(p.messages[-1:], ["after pause"])
                    got = p.numbers()
                    self.assertEqual(got, sorted(set(got)), "order kept, no duplicates")
                    self.assertLess(len(got), k, "a paused reader missed nothing: no overload happened")
                self.assertEqual(self.metric(SLOW), 0)
                await await_until(lambda: self.metric(BEHIND) == 0, 10, "no connection behind after the pause")
                self.assertEqual(len(self.c.members(room)), 4)
                # One line per interval (common/log_limiter.hpp: 5 s), with a rate; not one per drop.
                lines = self.drop_lines()
                self.assertGreaterEqual(len(lines), 1, "no log line for the dropped deliveries")
                self.assertLessEqual(len(lines), 1 + (time.monotonic() - t0) / 5 + 1, lines)
                self.assertLess(len(lines), self.metric(DROPPED))
        arun(body(), 120)

    def test_only_the_reader_that_never_reads_is_closed(self):
        """One member never reads again, one pauses, two keep up: the stuck one
        is closed with 1008 once its queue has stayed full for
        --slow-consumer-ms (default 5 s); the paused one stays with a gap; the
        readers get every message in order."""
        self.start()
        room = "stuck"

        async def body():
            async with Clients() as cl:
                readers = [await cl.connect(self.gwa, room), await cl.connect(self.gwb, room)]
                stuck, paused = PausedReader(self.gwa.port, room), PausedReader(self.gwa.port, room)
                for p in (stuck, paused):
                    self.addCleanup(p.ws.close)
                sender = await cl.connect(self.gwb, room)
                readers.append(sender)
                await await_until(lambda: len(self.c.members(room)) == 5, 10, "5 members")
                k = await self.fill_queues(sender, readers)
                paused.resume("after")
                # The stuck one's queue stays full: the sweep closes it.
                await await_until(lambda: len(self.c.members(room)) == 4, 30,
                                  "the reader that never reads closed as a slow consumer")
                self.assertEqual(self.metric(SLOW), 1)
                await send_msg(sender, "after")
                for ws in readers:
                    got = await recv_until(ws, lambda m: m.get("message") == "after", 20)
                    self.assertEqual(len(got), 1, "a reader that kept up missed or gained messages")
                await asyncio.to_thread(paused.done.wait, 30)
                self.assertIsNone(paused.close_payload)
                self.assertEqual(paused.messages[-1:], ["after"])
                self.assertEqual(paused.numbers(), sorted(set(paused.numbers())))
                frames, closed = await asyncio.to_thread(stuck.ws.read_frames)
                self.assertTrue(closed, "the stuck reader's connection was cut without a close frame")
                self.assertEqual(int.from_bytes(frames[-1][1][:2], "big"), 1008)
                self.assertEqual(frames[-1][1][2:].decode(), "slow consumer")
                self.assertTrue(re.search(r"closed (a connection as a slow consumer|1 connections as slow "
                                          r"consumers in the last [\d.]+ s)", self.gwa.log_text()),
                                "no log line for the slow-consumer close")
                self.assertGreater(k, 0)
        arun(body(), 120)

    def test_a_reader_that_reads_slowly_keeps_its_connection(self):
        """A member reads all the time, but far slower than its room talks, for
        longer than --slow-consumer-ms: it is not closed (its socket takes
        bytes); it gets a part of the messages, in order, and the rest is
        dropped and counted."""
        self.start(QUEUE_ARGS + ["--slow-consumer-ms", "1000"])
        room = "sluggish"

        async def body():
            async with Clients() as cl:
                slow = RawWebSocket(self.gwa.port, f"/ws/chat/{room}/")
                self.addCleanup(slow.close)
                sender = await cl.connect(self.gwb, room)
                await await_until(lambda: len(self.c.members(room)) == 2, 10, "2 members")
                stop = threading.Event()
                got = bytearray()

                def trickle():  # 8 kB every 20 ms: 400 kB/s, against 10 MB/s sent below
                    try:
                        while not stop.is_set():
                            chunk = slow.sock.recv(8192)
                            if not chunk:
                                return
                            got.extend(chunk)
                            time.sleep(0.02)
                    except OSError:
                        return
                reader = threading.Thread(target=trickle, daemon=True)
                reader.start()
                t0, k = time.monotonic(), 0
                while time.monotonic() - t0 < 4:  # 4 x --slow-consumer-ms
                    for _ in range(10):
                        await send_msg(sender, f"{k:06d}" + PAD)
                        k += 1
                    await recv_n(sender, 10, 20)
                    await asyncio.sleep(0.02)
                stop.set()
                reader.join(10)
                m = scrape_metrics(self.gwa.port)
                self.assertEqual(m.get(SLOW, 0), 0, "a reader that reads was closed as a slow consumer")
                self.assertGreater(m.get(DROPPED, 0), 0, f"nothing dropped in {k} messages: no overload")
                self.assertNotIn(b"slow consumer", bytes(got))
                self.assertEqual(len(self.c.members(room)), 2)
        arun(body(), 120)


class LinkBacklog(ProcessTestCase):
    def test_a_backlog_from_layerd_reaches_a_member_that_reads_without_drops(self):
        """The gateway stalls (SIGSTOP) while its room keeps talking, so layerd
        queues thousands of messages for it; when it runs again, its own
        clients keep sending (each send makes the link look for input). It must
        still queue one batch of the link (256 messages) per member between two
        writes, not one batch per trigger: a member that reads loses nothing
        with a send queue of 600 messages."""
        args = ["--send-queue-messages", "600", "--rate-limit", "100000", "--rate-burst", "100000"]
        c = self.start_cluster(layerds=1, gateways=2, gateway_args=args)
        gwa, gwb = c.gateways
        n = 20000

        async def drain(ws, sink):
            try:
                async for m in ws:
                    sink.append(m)
            except Exception:  # closed: the assertions below say how
                pass

        async def body():
            async with Clients() as cl:
                reader = await cl.connect(gwa, "main", max_queue=None)
                chatty = await cl.connect(gwa, "side", max_queue=None)
                flood = await cl.connect(gwb, "main", max_queue=None)
                await await_until(lambda: len(c.members("main")) == 2, 10, "2 members")
                got = []
                tasks = [asyncio.create_task(drain(reader, got)), asyncio.create_task(drain(chatty, [])),
                         asyncio.create_task(drain(flood, []))]
                gwa.signal_group(signal.SIGSTOP)
                try:
                    for k in range(n):
                        await flood.send(json.dumps({"message": f"{k:06d}"}))
                    for k in range(500):
                        await chatty.send(json.dumps({"message": "x"}))
                finally:
                    gwa.signal_group(signal.SIGCONT)

                async def chatter():
                    for k in range(20000):
                        await chatty.send(json.dumps({"message": "x"}))
                        if k % 50 == 0:
                            await asyncio.sleep(0)
                side = asyncio.create_task(chatter())

                def settled():
                    m = scrape_metrics(gwa.port)
                    return len(got) >= n or m.get(DROPPED, 0) > 0 or m.get(SLOW, 0) > 0
                await await_until(settled, 60, "the backlog delivered")
                await side
                m = scrape_metrics(gwa.port)
                self.assertEqual((m.get(DROPPED, 0), m.get(SLOW, 0)), (0, 0),
                                 f"a member that reads lost messages: {len(got)} of {n} arrived")
                self.assertEqual([json.loads(x)["message"] for x in got[:n]], [f"{k:06d}" for k in range(n)])
                for t in tasks:
                    t.cancel()
        arun(body(), 120)


if __name__ == "__main__":
    unittest.main()
