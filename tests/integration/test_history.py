# Room history and recovery end to end (docs/protocol.md, History), against
# real processes: redis-server, layerds with --history, two gateways. Every
# member sees one id per message, ids grow in delivery order and the
# stream holds the messages in that order; ?history=K replays the last K
# marked "history"; ?since=ID gives a reconnecting client exactly what it
# missed while others keep sending, or says complete=false when the stream
# no longer has it; a bad query is a 400; ids keep growing across a layerd
# restart and a failover; a layerd whose Redis never answers costs a
# socket at most --history-timeout-ms.
import asyncio
import json
import os
import signal
import subprocess
import time
import unittest

import websockets

from harness import (LAYERD_BIN, Clients, ProcessTestCase, arun, free_port, await_until, handshake_status, recv_json, recv_n, recv_until,
                     scrape_metrics, send_msg)
from harness_base import WaitTimeout

HISTORY = ("--history", "chat_tiny* 3 1h", "--history", "chat_vip* 500 2h", "--history", "chat_* 100 24h")


def id_key(text):
    ms, seq = text.split("-")
    return (int(ms), int(seq))


async def join(cl, gw, room, query=""):
    ws = await websockets.connect(gw.ws_url(room) + query, open_timeout=10, ping_interval=None, max_size=1 << 22,
                                  close_timeout=2)
    cl.sockets.append(ws)
    return ws


async def say(ws, n, prefix="m"):
    """Sends n lines from ws and returns them as ws itself receives them."""
    for i in range(n):
        await send_msg(ws, f"{prefix}{i}")
    return await recv_n(ws, n, 10)


def stream(redis, room):
    """The room's history stream: [(id, message)] oldest first."""
    import msgpack  # python3-msgpack (Debian)
    out = []
    for entry_id, fields in redis.cmd("XRANGE", f"asgi:history:chat_{room}", "-", "+") or []:
        f = dict(zip(fields[::2], fields[1::2]))
        event = msgpack.unpackb(f[b"e"], raw=False)
        out.append((entry_id.decode(), event["message"]))
    return out


class HistoryOn(ProcessTestCase):

    def setUp(self):
        self.c = self.start_cluster(layerds=2, gateways=2, layerd_args=HISTORY,
                                    # one sender sends hundreds of lines quickly
                                    gateway_args=("--history-timeout-ms", "700", "--rate-limit", "2000",
                                                  "--rate-burst", "2000"))
        self.gwa, self.gwb = self.c.gateways
        self.redis = self.c.redis

    def test_every_member_sees_one_increasing_id_per_message_and_the_stream_holds_that_order(self):
        async def body():
            async with Clients() as cl:
                members = [await cl.connect(gw, "ids") for gw in (self.gwa, self.gwb, self.gwb)]
                for i in range(30):
                    await send_msg(members[i % 3], f"m{i}")
                seen = [await recv_n(ws, 30, 15) for ws in members]
                lines = [(m["id"], m["message"]) for m in seen[0]]
                for other in seen[1:]:
                    self.assertEqual([(m["id"], m["message"]) for m in other], lines)
                keys = [id_key(i) for i, _ in lines]
                self.assertEqual(keys, sorted(keys))
                self.assertEqual(len(set(keys)), 30)
                for m in seen[0]:
                    self.assertNotIn("ts", m)  # the id's first part is the time
                    self.assertLess(abs(id_key(m["id"])[0] / 1000 - time.time()), 60)
                    self.assertNotIn("history", m)
                await await_until(lambda: len(stream(self.redis, "ids")) == 30, 5, "30 entries in the stream")
                self.assertEqual(stream(self.redis, "ids"), lines)
        arun(body(), 60)

    def test_history_k_replays_the_last_k_marked_before_live_lines(self):
        async def body():
            async with Clients() as cl:
                sender = await cl.connect(self.gwa, "recent")
                sent = await say(sender, 10)
                late = await join(cl, self.gwb, "recent", "?history=3")
                replay = await recv_n(late, 3, 10)
                self.assertEqual([m["message"] for m in replay], ["m7", "m8", "m9"])
                self.assertTrue(all(m["history"] is True for m in replay))
                self.assertEqual([m["id"] for m in replay], [m["id"] for m in sent[7:]])
                self.assertEqual(replay[0]["user"], sent[7]["user"])
                await send_msg(sender, "live")
                live = await recv_json(late, 5)
                self.assertEqual(live["message"], "live")
                self.assertNotIn("history", live)
                # history=0 replays nothing; a K over the bound is clamped (the room has 11)
                none = await join(cl, self.gwa, "recent", "?history=0")
                many = await join(cl, self.gwa, "recent", "?history=99999")
                self.assertEqual(len(await recv_n(many, 11, 10)), 11)
                await send_msg(sender, "after")
                self.assertEqual((await recv_json(none, 5))["message"], "after")
                self.assertEqual((await recv_json(many, 5))["message"], "after")
        arun(body(), 60)

    def test_since_recovers_exactly_what_was_missed_while_others_keep_sending(self):
        total = 300

        async def body():
            async with Clients() as cl:
                watcher = await cl.connect(self.gwa, "recover")
                sender = await cl.connect(self.gwb, "recover")
                leaver = await cl.connect(self.gwa, "recover")
                watched = asyncio.ensure_future(recv_n(watcher, total, 60))

                async def send_all():
                    for i in range(total):
                        await send_msg(sender, f"m{i}")
                        await asyncio.sleep(0.003)
                sending = asyncio.ensure_future(send_all())
                first = await recv_n(leaver, 40, 20)
                last = first[-1]["id"]
                await leaver.close()
                await asyncio.sleep(0.2)  # others keep sending meanwhile
                back = await join(cl, self.gwb, "recover", f"?since={last}")
                got = await recv_until(back, lambda m: m.get("type") == "recovery", 20)
                recovery = got.pop()
                replayed = len(got)
                self.assertTrue(all(m.get("history") for m in got))
                self.assertEqual(recovery, {"type": "recovery", "complete": True, "count": replayed})
                await sending
                full = await watched
                after = [m["message"] for m in full][40:]
                rest = got + await recv_n(back, total - 40 - replayed, 30) if total - 40 - replayed > 0 else got
                self.assertEqual([m["message"] for m in rest], after, "a gap or a duplicate")
                self.assertEqual([m["id"] for m in rest], [m["id"] for m in full][40:])
                self.assertGreater(replayed, 0)
        arun(body(), 120)

    def test_a_gap_older_than_the_stream_keeps_says_complete_false(self):
        # Small stream nodes so MAXLEN ~ 3 trims close to 3 entries.
        self.redis.cmd("CONFIG", "SET", "stream-node-max-entries", "2")

        async def body():
            async with Clients() as cl:
                sender = await cl.connect(self.gwa, "tiny1")
                sent = await say(sender, 30)
                await await_until(lambda: len(stream(self.redis, "tiny1")) >= 3, 5, "the stream written")
                kept = stream(self.redis, "tiny1")
                self.assertLess(len(kept), 10, "MAXLEN ~ 3 trimmed the stream")
                back = await join(cl, self.gwb, "tiny1", f"?since={sent[0]['id']}")
                got = await recv_until(back, lambda m: m.get("type") == "recovery", 10)
                recovery = got.pop()
                self.assertEqual(recovery, {"type": "recovery", "complete": False, "count": len(got)})
                self.assertEqual([m["message"] for m in got], [m for _, m in kept])
                # what the stream still has after its own last entry: complete
                tail = await join(cl, self.gwb, "tiny1", f"?since={sent[-1]['id']}")
                self.assertEqual(await recv_json(tail, 5), {"type": "recovery", "complete": True, "count": 0})
        arun(body(), 60)

    def test_per_pattern_settings_are_visible_in_redis(self):
        self.redis.cmd("CONFIG", "SET", "stream-node-max-entries", "2")

        async def body():
            async with Clients() as cl:
                for room in ("vip1", "lobby", "tiny2"):
                    await say(await cl.connect(self.gwa, room), 12, f"{room}-")
                notify = await websockets.connect(f"ws://127.0.0.1:{self.gwa.port}/ws/notification/c1/",
                                                  open_timeout=10, ping_interval=None, close_timeout=2)
                cl.sockets.append(notify)
                await await_until(lambda: len(stream(self.redis, "lobby")) == 12, 5, "lobby's stream")
                self.assertGreater(self.redis.cmd("TTL", "asgi:history:chat_vip1"), 7000)
                self.assertLessEqual(self.redis.cmd("TTL", "asgi:history:chat_vip1"), 7200)
                self.assertGreater(self.redis.cmd("TTL", "asgi:history:chat_lobby"), 86000)
                self.assertLessEqual(self.redis.cmd("TTL", "asgi:history:chat_tiny2"), 3600)
                self.assertEqual(self.redis.cmd("XLEN", "asgi:history:chat_vip1"), 12)
                self.assertLess(self.redis.cmd("XLEN", "asgi:history:chat_tiny2"), 12)
                self.assertEqual(self.redis.cmd("EXISTS", "asgi:history:notification_c1"), 0)
        arun(body(), 60)

    def test_a_bad_history_or_since_is_a_400_counted_by_reason(self):
        async def body():
            base = self.gwa.ws_url("lobby")
            for query in ("?history=abc", "?history=1&history=2", "?since=12", "?since=1-0&since=2-0",
                          "?since=" + "9" * 30 + "-0", "?history=-1"):
                self.assertEqual(await handshake_status(base + query), 400, query)
            self.assertEqual(await handshake_status(base + "?history=5&since=1-0"), 101)
            m = scrape_metrics(self.gwa.port)
            self.assertEqual(m['switchboard_gateway_history_query_refusals_total{reason="history_malformed"}'], 2)
            self.assertEqual(m['switchboard_gateway_history_query_refusals_total{reason="history_repeated"}'], 1)
            self.assertEqual(m['switchboard_gateway_history_query_refusals_total{reason="since_malformed"}'], 2)
            self.assertEqual(m['switchboard_gateway_history_query_refusals_total{reason="since_repeated"}'], 1)
        arun(body(), 30)

    def test_a_layerd_whose_redis_never_answers_holds_a_socket_at_most_the_timeout(self):
        async def body():
            async with Clients() as cl:
                sender = await cl.connect(self.gwa, "stuck")
                await send_msg(sender, "before")
                before = (await recv_n(sender, 1, 5))[0]
                self.redis.signal_group(signal.SIGSTOP)
                try:
                    t0 = time.monotonic()
                    back = await join(cl, self.gwb, "stuck", f"?since={before['id']}")
                    await send_msg(sender, "while stuck")
                    got = await recv_until(back, lambda m: m.get("type") == "recovery", 10)
                    waited = time.monotonic() - t0
                    self.assertEqual(got[-1], {"type": "recovery", "complete": False, "count": 0})
                    self.assertLess(waited, 5)
                    live = await recv_json(back, 5)  # held during the replay, sent after it
                    self.assertEqual(live["message"], "while stuck")
                finally:
                    self.redis.signal_group(signal.SIGCONT)
                m = scrape_metrics(self.gwb.port)
                self.assertGreaterEqual(m["switchboard_gateway_history_unanswered_total"], 1)
                self.assertGreaterEqual(m["switchboard_gateway_history_incomplete_total"], 1)
        arun(body(), 60)


class HistoryAcrossLayerds(ProcessTestCase):

    def test_a_restarted_layerd_stamps_above_what_the_stream_already_holds(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, extra_args=HISTORY)
        gw = self.start_gateway([ld.endpoint])
        import msgpack  # python3-msgpack (Debian)
        future = "99999999999999-7"  # a former owner's clock far ahead

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, "restart")
                await send_msg(ws, "one")
                await recv_n(ws, 1, 5)
            redis.cmd("XADD", "asgi:history:chat_restart", future, "e",
                      msgpack.packb({"type": "chat.message", "message": "ahead", "ts": 1}))
            ld.stop()
            await await_until(lambda: (gw.healthz() or (0,))[0] == 503, 10, "the gateway seeing its layerd gone")
            self.start_layerd(redis.url, extra_args=HISTORY, endpoint=ld.endpoint, id="layerd-again")
            await await_until(lambda: (gw.healthz() or (0,))[0] == 200, 20, "the gateway's link to the new layerd")
            async with Clients() as cl:
                ws = await cl.connect(gw, "restart", open_timeout=15)
                await send_msg(ws, "two")
                two = (await recv_n(ws, 1, 10))[0]
                self.assertGreater(id_key(two["id"]), id_key(future))
                self.assertEqual(stream(redis, "restart")[-1], (two["id"], "two"))
        arun(body(), 60)

    def test_a_stopping_layerd_first_writes_what_it_fanned_out(self):
        # Redis paused: the XADDs of lines already fanned out wait in layerd's
        # buffer (more than the kernel's socket buffers take); a SIGTERM then
        # stops layerd only once Redis has them (at most 500 ms).
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, extra_args=("--history", "chat_* 1000 1h"))
        gw = self.start_gateway([ld.endpoint], extra_args=("--max-message-size", "300000", "--send-queue-bytes", "33554432", "--rate-limit", "1000",
                                                           "--rate-burst", "1000"))
        n, big = 100, "x" * 200_000  # 20 MB of XADDs

        async def body():
            async with Clients() as cl:
                ws = await join(cl, gw, "flush")
                await say(ws, 1, "first")  # the room's last id is read: later sends go at once
                redis.signal_group(signal.SIGSTOP)
                try:
                    for i in range(n):
                        await send_msg(ws, f"{i}:{big}")
                    got = []
                    try:
                        while len(got) < n:
                            got.append(await recv_json(ws, 10))
                    except asyncio.TimeoutError:
                        self.fail(f"{len(got)} of {n} fanned out: {ld.log_text()[-3000:]}")
                    self.assertEqual(len(got), n)  # all fanned out, none stored yet
                    ld.proc.send_signal(signal.SIGTERM)
                    await asyncio.sleep(0.1)
                finally:
                    redis.signal_group(signal.SIGCONT)
                await asyncio.get_running_loop().run_in_executor(None, ld.proc.wait, 10)
                # (Redis may still be reading what the socket holds)
                await await_until(lambda: redis.cmd("XLEN", "asgi:history:chat_flush") == n + 1, 10,
                                  "every line fanned out is kept")
        arun(body(), 90)

    def test_ids_keep_growing_when_a_layerd_dies_and_its_rooms_move(self):
        c = self.start_cluster(layerds=2, gateways=2, layerd_args=HISTORY)
        rooms = [f"fo{i}" for i in range(6)]  # some land on each layerd

        async def body():
            async with Clients() as cl:
                socks = {r: await cl.connect(c.gateways[i % 2], r) for i, r in enumerate(rooms)}
                ids = {r: [] for r in rooms}
                for r, ws in socks.items():
                    for i in range(5):
                        await send_msg(ws, f"a{i}")
                    ids[r] += [m["id"] for m in await recv_n(ws, 5, 10)]
                c.layerds[0].kill()
                await asyncio.sleep(1.0)
                for r, ws in socks.items():
                    for i in range(5):
                        await send_msg(ws, f"b{i}")
                    got = await recv_n(ws, 5, 15)
                    self.assertEqual([m["message"] for m in got], [f"b{i}" for i in range(5)])
                    ids[r] += [m["id"] for m in got]
                for r in rooms:
                    keys = [id_key(i) for i in ids[r]]
                    self.assertEqual(keys, sorted(set(keys)), r)
                    try:
                        await await_until(lambda: [i for i, _ in stream(c.redis, r)] == ids[r], 5, f"{r}'s stream")
                    except WaitTimeout:  # say what differs
                        self.assertEqual([i for i, _ in stream(c.redis, r)], ids[r], f"{r}'s stream")
        arun(body(), 90)


class HistoryReplayBounds(ProcessTestCase):

    def test_a_replay_larger_than_the_send_queue_stops_there_and_says_incomplete(self):
        c = self.start_cluster(layerds=1, gateways=1, layerd_args=HISTORY,
                               gateway_args=("--send-queue-bytes", "4096", "--rate-limit", "2000",
                                             "--rate-burst", "2000"))
        gw = c.gateways[0]

        async def body():
            async with Clients() as cl:
                sender = await cl.connect(gw, "big")
                first = (await say(sender, 1, "first"))[0]
                for i in range(40):
                    await send_msg(sender, f"{i}-" + "x" * 300)
                # (the sender's own small queue drops some of its copies: read the stream instead)
                await await_until(lambda: c.redis.cmd("XLEN", "asgi:history:chat_big") == 41, 10, "41 kept")
                back = await join(cl, gw, "big", f"?since={first['id']}")
                got = await recv_until(back, lambda m: m.get("type") == "recovery", 10)
                recovery = got.pop()
                self.assertEqual(recovery["complete"], False)
                self.assertEqual(recovery["count"], len(got))
                self.assertLess(len(got), 40)
                self.assertGreater(len(got), 0)
                self.assertEqual([m["message"].split("-")[0] for m in got], [str(i) for i in range(len(got))])
                await send_msg(sender, "live")
                self.assertEqual((await recv_json(back, 5))["message"], "live")
        arun(body(), 30)


class HistoryOff(ProcessTestCase):

    def test_with_history_off_lines_have_no_id_and_since_is_incomplete(self):
        c = self.start_cluster(layerds=1, gateways=1)  # the harness starts layerd with --history off
        gw = c.gateways[0]

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, "plain")
                await send_msg(ws, "hi")
                m = (await recv_n(ws, 1, 5))[0]
                self.assertNotIn("id", m)
                self.assertNotIn("ts", m)
                back = await join(cl, gw, "plain", "?since=1-0")
                self.assertEqual(await recv_json(back, 5), {"type": "recovery", "complete": False, "count": 0})
                k = await join(cl, gw, "plain", "?history=5")
                await send_msg(ws, "live")
                self.assertEqual((await recv_json(k, 5))["message"], "live")
                self.assertEqual(c.redis.cmd("EXISTS", "asgi:history:chat_plain"), 0)
        arun(body(), 30)


class HistoryOptions(ProcessTestCase):

    def test_settings_come_from_the_config_file_and_the_environment_and_bad_ones_exit_2(self):
        ini = self.workdir / "layerd.ini"
        ini.write_text("history = chat_vip* 500 2h\nhistory = chat_* 50 30m\n")
        # Started here, not through the harness (which adds --history off).
        p = subprocess.Popen([str(LAYERD_BIN), "--bind", f"tcp://127.0.0.1:{free_port()}", "--redis", "redis://127.0.0.1:1/0",
                              "--config", str(ini)], stderr=subprocess.PIPE, text=True)
        try:
            line = ""
            deadline = time.monotonic() + 10
            while "layerd ready" not in line and time.monotonic() < deadline:
                line = p.stderr.readline()
            self.assertIn('history="chat_vip* 500 7200s, chat_* 50 1800s"', line)
        finally:
            p.kill()
            p.wait(timeout=5)
        env = dict(os.environ, SWITCHBOARD_HISTORY="chat_* 5 1h")
        for args, env_, why in ((["--history", "chat_* 0 1h"], None, "MAXLEN"),
                                (["--history", "chat_* 100 soon"], None, "TTL"),
                                (["--history", "off", "--history", "chat_* 1 1h"], None, "off"),
                                (["--history", "chat_*"], None, "PATTERN MAXLEN TTL"),
                                ([], dict(env, SWITCHBOARD_HISTORY="chat_* -1 1h"), "MAXLEN")):
            r = subprocess.run([str(LAYERD_BIN), "--bind", "tcp://127.0.0.1:1", *args], capture_output=True,
                               text=True, timeout=10, env=env_)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("--history", r.stderr)
            self.assertIn(why, r.stderr)


if __name__ == "__main__":
    unittest.main()
