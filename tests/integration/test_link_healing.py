# A gateway heals its link to a layerd by itself, whatever cut it off: a
# TCP connection that went silent in the middle, a layerd paused for longer
# than --layerd-timeout-ms, or another peer that took the gateway's routing
# id on layerd's ROUTER. ZeroMQ reconnects only a connection it saw close,
# so the gateway re-creates a link it declared down (docs/protocol.md,
# "Liveness, ownership and SYNC"). Each test checks that chat works again
# and that the gateway's members are back in Redis (its SYNC). Real
# processes and real sockets on loopback; the proxy is a real TCP relay in
# the test process (harness_clients.TcpRelay).
import asyncio
import signal
import sys
import time

import msgpack
import zmq

from harness import (Clients, Cluster, ProcessTestCase, TcpRelay, arun, await_until, chat_eventually_works, chat_works, free_port,
                     group_key, scrape_metrics, wait_until)

HEARTBEAT_MS = 200
LAYERD_TIMEOUT_MS = 1000
GATEWAY_ARGS = ["--heartbeat-ms", str(HEARTBEAT_MS), "--layerd-timeout-ms", str(LAYERD_TIMEOUT_MS)]
HEAL_TIMEOUT = 30.0  # generous: a loaded 2-core machine


def zcard(cluster_redis, room: str) -> int:
    return int(cluster_redis.cmd("ZCARD", group_key(room)))


def lines(text: str, marker: str):
    return [ln for ln in text.splitlines() if marker in ln]


class LinkHealing(ProcessTestCase):

    def test_a_connection_that_goes_silent_midway_is_replaced(self):
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        relay = TcpRelay(layerd.port)
        self.addCleanup(relay.close)
        gw = self.start_gateway([f"tcp://127.0.0.1:{relay.port}"], extra_args=GATEWAY_ARGS, id="gwa")
        room = "silent"

        async def body():
            async with Clients() as cl:
                a = await cl.connect(gw, room)
                b = await cl.connect(gw, room)
                await chat_works(a, [a, b], "before")
                self.assertEqual(zcard(redis, room), 2)
                before = relay.connections()
                relay.blackhole()
                # the gateway hears nothing more and says so ...
                await await_until(lambda: lines(gw.log_text(), "layerd down"), HEAL_TIMEOUT, "layerd down")
                # ... then connects afresh (a new TCP connection through the relay) and comes back
                await await_until(lambda: relay.connections() > before, HEAL_TIMEOUT, "a new connection")
                await chat_eventually_works(a, [a, b], "after", timeout=HEAL_TIMEOUT)
                await await_until(lambda: zcard(redis, room) == 2, HEAL_TIMEOUT, "both members back in Redis")
                self.assertTrue(lines(gw.log_text(), "layerd link re-created"), gw.log_text()[-3000:])
                m = scrape_metrics(gw.port)
                self.assertGreaterEqual(m["switchboard_gateway_layerd_reconnects_total"], 1)
                self.assertEqual(m["switchboard_gateway_layerd_links_up"], 1)
        arun(body(), 120)

    def test_b_a_layerd_paused_past_the_timeout_is_taken_back(self):
        redis = self.start_redis()
        metrics_port = free_port()
        ld0 = self.start_layerd(redis.url, id="layerd0", extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"])
        ld1 = self.start_layerd(redis.url, id="layerd1")
        eps = [ld0.endpoint, ld1.endpoint]
        gws = [self.start_gateway(eps, extra_args=GATEWAY_ARGS, id=i) for i in ("gwa", "gwb")]
        self.wait_links_up(Cluster(redis, [ld0, ld1], gws))
        rooms = [f"paused{i}" for i in range(8)]  # some of them are layerd0's

        def sends_through_ld0():
            return scrape_metrics(metrics_port)["switchboard_layerd_group_sends_total"]

        async def body():
            async with Clients() as cl:
                socks = {r: [await cl.connect(gws[0], r), await cl.connect(gws[1], r)] for r in rooms}
                for r in rooms:
                    await chat_works(socks[r][0], socks[r], f"before-{r}")
                    self.assertEqual(zcard(redis, r), 2)
                self.assertGreater(sends_through_ld0(), 0, "no room is layerd0's: pick other room names")
                ld0.signal_group(signal.SIGSTOP)
                try:
                    for gw in gws:
                        await await_until(lambda: lines(gw.log_text(), f"layerd down layerd={ld0.endpoint}"),
                                          HEAL_TIMEOUT, f"{gw.name} declares layerd0 down")
                    # past layerd0's own --gateway-timeout-ms too (5 s): it
                    # forgets both gateways and their members when it resumes
                    await asyncio.sleep(6)
                finally:
                    ld0.signal_group(signal.SIGCONT)
                for gw in gws:
                    await await_until(lambda: len(lines(gw.log_text(), f"layerd up layerd={ld0.endpoint}")) >= 2,
                                      HEAL_TIMEOUT, f"{gw.name} takes layerd0 back")
                sent_before = sends_through_ld0()
                for r in rooms:
                    await chat_eventually_works(socks[r][1], socks[r], f"after-{r}", timeout=HEAL_TIMEOUT)
                    await await_until(lambda: zcard(redis, r) == 2, HEAL_TIMEOUT, f"members of {r} back")
                # layerd0 owns its rooms again
                self.assertGreater(sends_through_ld0(), sent_before)
        arun(body(), 180)

    def test_c_a_peer_that_takes_the_gateway_routing_id_does_not_cut_it_off(self):
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        gw = self.start_gateway([layerd.endpoint], extra_args=GATEWAY_ARGS, id="gwa")
        room = "handover"
        ctx = zmq.Context()
        self.addCleanup(ctx.destroy, 0)

        async def body():
            async with Clients() as cl:
                a = await cl.connect(gw, room)
                b = await cl.connect(gw, room)
                await chat_works(a, [a, b], "before")
                members = [m.decode() for m in redis.cmd("ZRANGE", group_key(room), 0, -1)]
                self.assertEqual(len(members), 2, members)
                run_id = members[0].split("specific.", 1)[1].split("!", 1)[0]
                # an impostor DEALER with the gateway's routing id: layerd's
                # ROUTER hands the id over to it, and its empty SYNC removes
                # the gateway's members
                imp = ctx.socket(zmq.DEALER)
                imp.setsockopt(zmq.ROUTING_ID, run_id.encode())
                imp.setsockopt(zmq.LINGER, 0)
                imp.connect(layerd.endpoint)
                imp.send_multipart([bytes([1]), msgpack.packb([1, 1, run_id, 0])])
                imp.send_multipart([bytes([11]), msgpack.packb([])])
                await await_until(lambda: zcard(redis, room) == 0, HEAL_TIMEOUT, "the impostor's SYNC")
                taken = time.monotonic()
                # the impostor keeps the id warm with heartbeats; the real
                # gateway must take it back by itself
                async def heartbeats():
                    while True:
                        imp.send_multipart([bytes([7]), msgpack.packb([])], zmq.NOBLOCK)
                        await asyncio.sleep(HEARTBEAT_MS / 1000)
                beat = asyncio.ensure_future(heartbeats())
                try:
                    await await_until(lambda: zcard(redis, room) == 2, HEAL_TIMEOUT, "the gateway's members back")
                    healed = time.monotonic() - taken
                    await chat_eventually_works(a, [a, b], "after", timeout=HEAL_TIMEOUT)
                finally:
                    beat.cancel()
                self.assertTrue(lines(gw.log_text(), "layerd link re-created"), gw.log_text()[-3000:])
                # documented bound: --layerd-timeout-ms to notice, then one
                # re-created link and a HELLO round trip (checked loosely:
                # this machine is shared and loaded)
                self.assertLess(healed, LAYERD_TIMEOUT_MS / 1000 + 10, f"healed after {healed:.1f}s")
                sys.stderr.write(f"\nhandover: members back {healed:.2f}s after the impostor's SYNC\n")
                imp.close(0)
        arun(body(), 120)
