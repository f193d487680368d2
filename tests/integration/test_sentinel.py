# test_sentinel.py — layerd on a Redis Sentinel shard: it finds the master
# through the sentinels, follows a failover, rewrites its memberships on the
# new master, and keeps interoperating with Django's channels_redis
# configured with the same sentinels.
#
# Real processes on loopback, each on a free port with its files in the
# test's temp dir: a Redis master, one replica and three sentinels (Debian's
# redis-sentinel, with a short down-after-milliseconds and failover-timeout
# so a failover takes a few seconds), layerd on the sentinel:// URL, two
# gateways, and Debian's channels_redis 4.0 with a {"sentinels": ...,
# "master_name": ...} hosts entry, driven from this (real) Python process.
import asyncio
import re
import signal
import sys
import time
import unittest

from channels_redis.core import RedisChannelLayer

from harness import (seed_view, CLI_BIN, ProcessTestCase, Process, RedisError, RedisServer, Resp, arun, await_until, free_port, recv_json,
                     redis_cmd, scrape_metrics, send_msg, wait_until, ws_connect, group_key)

SENTINEL_BIN = "/usr/bin/redis-sentinel"
MASTER_NAME = "mymaster"


class Sentinel(Process):
    """redis-sentinel on 127.0.0.1:<port> monitoring MASTER_NAME at master_port;
    its config file (which Sentinel rewrites) lives in the test's temp dir."""

    def __init__(self, port: int, master_port: int, workdir, name: str, extra=()):
        self.port = port
        super().__init__(name, [SENTINEL_BIN], workdir)
        conf = self.workdir / f"{name}.conf"
        conf.write_text("\n".join([
            f"port {port}", "bind 127.0.0.1", "protected-mode no", "daemonize no", 'logfile ""',
            f"dir {self.workdir}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
            f"sentinel failover-timeout {MASTER_NAME} 4000",
            f"sentinel parallel-syncs {MASTER_NAME} 1", *extra, ""]))
        self.argv.append(str(conf))

    def start(self):
        self.spawn()

        def ready():
            self.check_alive("sentinel PING")
            try:
                return redis_cmd(self.port, "PING", timeout=0.5) == "PONG"
            except RedisError as e:
                return "NOAUTH" in str(e)  # up, and wants its password
            except (OSError, ConnectionError):
                return False
        wait_until(ready, 10, f"{self.name} on port {self.port}")
        return self

    def master_state(self) -> dict:
        flat = redis_cmd(self.port, "SENTINEL", "MASTER", MASTER_NAME)
        flat = [x.decode() if isinstance(x, bytes) else x for x in flat]
        return dict(zip(flat[0::2], flat[1::2]))


def role(port: int) -> str:
    r = redis_cmd(port, "ROLE", timeout=1.0)
    first = r[0]
    return first.decode() if isinstance(first, bytes) else first


class SentinelCase(ProcessTestCase):
    def start_sentinel_set(self, sentinels: int = 3):
        """A master, one replica in sync, and `sentinels` sentinels that know
        each other and the replica (so they can agree on a failover)."""
        self.master = self.start_redis()
        self.replica = self.start_redis()
        self.replica.cmd("REPLICAOF", "127.0.0.1", str(self.master.port))
        wait_until(lambda: "master_link_status:up" in _text(self.replica.cmd("INFO", "replication")), 15,
                   "replica in sync")
        self.sentinels = [self.own(Sentinel(free_port(), self.master.port, self.workdir, f"sentinel{i}")).start()
                          for i in range(sentinels)]

        def agreed():
            for s in self.sentinels:
                st = s.master_state()
                if int(st.get("num-other-sentinels", 0)) < sentinels - 1 or int(st.get("num-slaves", 0)) < 1:
                    return False
            return True
        wait_until(agreed, 30, "sentinels know each other and the replica")

    def sentinel_url(self, extra: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"sentinel://{hosts}/{MASTER_NAME}{extra}"

    def django_layer(self):
        # channels_redis' Sentinel hosts entry (docs/django.md, "Redis Sentinel").
        return RedisChannelLayer(hosts=[{
            "sentinels": [("127.0.0.1", s.port) for s in self.sentinels],
            "master_name": MASTER_NAME,
        }])

    def start_layerd_on_sentinels(self, url: str):
        """A layerd on url with /metrics; the first one is self.ld."""
        mport = free_port()
        ld = self.start_layerd(url, extra_args=["--metrics-listen", f"127.0.0.1:{mport}"])
        ld.mport = mport
        self.lds = getattr(self, "lds", []) + [ld]
        self.ld, self.mport = self.lds[0], self.lds[0].mport
        return ld

    def metric(self, name: str) -> float:
        return scrape_metrics(self.mport).get(name, -1.0)

    def every_layerd(self, name: str, value: float) -> bool:
        return all(scrape_metrics(ld.mport).get(name, -1.0) == value for ld in self.lds)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


class Failover(SentinelCase):
    def setUp(self):
        self.start_sentinel_set()
        # Two layerds on the same Sentinel shard (each owns some groups), two gateways.
        for _ in range(2):
            self.start_layerd_on_sentinels(self.sentinel_url())
        eps = [ld.endpoint for ld in self.lds]
        self.gwa = self.start_gateway(eps, id="gwa")
        self.gwb = self.start_gateway(eps, id="gwb")
        wait_until(lambda: self.every_layerd("switchboard_layerd_redis_up", 1.0), 15,
                   "layerds connected to the master")
        # Each gateway sees both layerds before a socket joins: a join made
        # while a gateway knows one layerd goes to it and moves to the ring
        # owner only when the other comes up, and a message sent in between
        # misses that gateway's member.
        wait_until(lambda: all(scrape_metrics(gw.port).get("switchboard_gateway_layerd_links_up") == 2.0
                               for gw in (self.gwa, self.gwb)), 15, "both gateways linked to both layerds")

    def zcard(self, port: int, room: str) -> int:
        return int(redis_cmd(port, "ZCARD", group_key(room)))

    def test_chat_and_membership_survive_a_master_failover_and_django_still_interoperates(self):
        labels = (f'{{shard="0",address="{MASTER_NAME}@' +
                  ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + '/0"')
        master_label = labels + f',master="127.0.0.1:{self.master.port}"}}'
        for ld in self.lds:
            self.assertEqual(scrape_metrics(ld.mport).get("switchboard_layerd_redis_shard_master" + master_label), 1.0)

        async def body():
            a = await ws_connect(self.gwa, "lobby")
            b = await ws_connect(self.gwb, "lobby")
            c = await ws_connect(self.gwb, "side")
            await await_until(lambda: self.zcard(self.master.port, "lobby") == 2 and
                              self.zcard(self.master.port, "side") == 1, 15, "members on the master")
            await send_msg(a, "before")
            self.assertEqual(seed_view(await recv_json(b, 10)), {"message": "before"})
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "before"})

            # Chat traffic from a while the master dies; b must see all of it, in order.
            sent = []
            stop = asyncio.Event()

            async def talk():
                i = 0
                while not stop.is_set():
                    m = f"m{i}"
                    await send_msg(a, m)
                    sent.append(m)
                    i += 1
                    await asyncio.sleep(0.05)

            async def drain(ws, into):
                while True:
                    into.append((await recv_json(ws, 60))["message"])

            got_b, got_a = [], []
            talker = asyncio.ensure_future(talk())
            readers = [asyncio.ensure_future(drain(b, got_b)), asyncio.ensure_future(drain(a, got_a))]
            await asyncio.sleep(0.5)
            killed = time.monotonic()
            self.master.kill(signal.SIGKILL)

            def promoted():
                try:
                    return role(self.replica.port) == "master"
                except (OSError, ConnectionError):
                    return False
            await await_until(promoted, 60, "the replica promoted by the sentinels")
            promoted_after = time.monotonic() - killed
            await await_until(lambda: self.every_layerd("switchboard_layerd_redis_master_switches_total", 1.0) and
                              self.every_layerd("switchboard_layerd_redis_up", 1.0), 30,
                              "both layerds following the new master")
            followed_after = time.monotonic() - killed
            await await_until(lambda: self.zcard(self.replica.port, "lobby") == 2 and
                              self.zcard(self.replica.port, "side") == 1, 30, "membership on the new master")
            rewritten_after = time.monotonic() - killed
            stop.set()
            await talker
            await await_until(lambda: len(got_b) >= len(sent) and len(got_a) >= len(sent), 30,
                              "every chat message delivered")
            self.assertEqual(got_b, sent)
            self.assertEqual(got_a, sent)
            for r in readers:
                r.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            print(f"\nsentinel failover: promoted {promoted_after:.2f}s, layerd on the new master "
                  f"{followed_after:.2f}s, membership rewritten {rewritten_after:.2f}s after SIGKILL; "
                  f"{len(sent)} chat messages sent during it, all delivered in order", file=sys.stderr)

            # The switch is logged at warn with old and new address, and in /metrics.
            new_label = labels + f',master="127.0.0.1:{self.replica.port}"}}'
            for ld in self.lds:
                self.assertRegex(ld.log_text(), rf"warning \[redis\] redis master switched shard=0 "
                                                rf"master_name={MASTER_NAME} old=127\.0\.0\.1:{self.master.port} "
                                                rf"new=127\.0\.0\.1:{self.replica.port}")
                self.assertEqual(scrape_metrics(ld.mport).get("switchboard_layerd_redis_shard_master" + new_label), 1.0)

            # Django's channels_redis on the same sentinels, after the failover:
            # its group_send reaches Switchboard sockets (layerd polls the inboxes
            # on the new master) ...
            layer = self.django_layer()
            await layer.group_send("chat_lobby", {"type": "chat.message", "message": "from django"})
            self.assertEqual(seed_view(await recv_json(a, 15)), {"message": "from django"})
            self.assertEqual(seed_view(await recv_json(b, 15)), {"message": "from django"})
            # ... and a Django consumer's inbox gets Switchboard's group_send.
            django_channel = await layer.new_channel()
            await layer.group_add("chat_side", django_channel)
            await await_until(lambda: self.zcard(self.replica.port, "side") == 2, 10, "django consumer in the group")
            await send_msg(c, "to django")
            self.assertEqual(seed_view(await recv_json(c, 10)), {"message": "to django"})
            msg = await asyncio.wait_for(layer.receive(django_channel), 15)
            self.assertEqual(seed_view(msg), {"type": "chat.message", "message": "to django"})
            # A socket that joins now is mirrored on the new master too.
            d = await ws_connect(self.gwa, "side")
            await await_until(lambda: self.zcard(self.replica.port, "side") == 3, 10, "a new member mirrored")
            for ws in (a, b, c, d):
                await ws.close()
            await layer.close_pools()
        arun(body(), 180)

    def test_a_planned_failover_with_the_old_master_alive_is_followed(self):
        # SENTINEL FAILOVER: the old master stays up and becomes a replica, so
        # no connection drops; layerd must notice from the sentinels' answer
        # (or a READONLY reply) and move.
        async def body():
            a = await ws_connect(self.gwa, "lobby")
            b = await ws_connect(self.gwb, "lobby")
            await await_until(lambda: self.zcard(self.master.port, "lobby") == 2, 15, "members on the master")
            redis_cmd(self.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER_NAME)
            await await_until(lambda: role(self.replica.port) == "master" and role(self.master.port) == "slave",
                              60, "roles swapped")
            await await_until(lambda: self.every_layerd("switchboard_layerd_redis_master_switches_total", 1.0) and
                              self.every_layerd("switchboard_layerd_redis_up", 1.0), 30,
                              "both layerds following the new master")
            # The sentinels' +switch-master message made layerd ask at once.
            for ld in self.lds:
                self.assertIn('redis master in doubt shard=0 master_name=mymaster reason="+switch-master"',
                              ld.log_text())
            # A join after the switch is written on the new master.
            c = await ws_connect(self.gwa, "lobby")
            await await_until(lambda: self.zcard(self.replica.port, "lobby") == 3, 15, "a new member mirrored")
            await send_msg(c, "after")
            for ws in (a, b, c):
                self.assertEqual(seed_view(await recv_json(ws, 10)), {"message": "after"})
            for ws in (a, b, c):
                await ws.close()
        arun(body(), 120)

    def test_switchboard_cli_finds_the_master_through_the_sentinels(self):
        import subprocess
        run = subprocess.run([str(CLI_BIN), "--redis", self.sentinel_url(), "group-add", "chat_cli", "x.y!z"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(int(self.master.cmd("ZCARD", group_key("cli"))), 1)
        run = subprocess.run([str(CLI_BIN), "--redis", self.sentinel_url(), "groups"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("chat_cli", run.stdout)


class Passwords(SentinelCase):
    def test_master_and_sentinel_passwords_as_channels_redis_takes_them(self):
        # The master wants one password, the sentinel another (with a "&"
        # that the URL carries as %26); Django's channels_redis gets them as
        # "password" and sentinel_kwargs={"password": ...}.
        master_pw, sentinel_pw = "m4ster&pw", "s3ntinel"
        self.master = self.start_redis()
        sentinel = Sentinel(free_port(), self.master.port, self.workdir, "sentinel0",
                            extra=[f"requirepass {sentinel_pw}",
                                   f"sentinel auth-pass {MASTER_NAME} {master_pw}"])
        self.master.cmd("CONFIG", "SET", "requirepass", master_pw)
        self.sentinels = [self.own(sentinel).start()]

        def authed(port, *args, pw):
            with Resp(port) as r:
                r.command("AUTH", pw)
                return r.command(*args)
        url = self.sentinel_url(f"?password=m4ster%26pw&sentinel_password={sentinel_pw}")
        self.start_layerd_on_sentinels(url)
        gw = self.start_gateway([self.ld.endpoint], id="gwa")
        wait_until(lambda: self.metric("switchboard_layerd_redis_up") == 1.0, 20, "layerd authenticated")

        async def body():
            a = await ws_connect(gw, "lobby")
            await await_until(lambda: int(authed(self.master.port, "ZCARD", group_key("lobby"), pw=master_pw)) == 1,
                              10, "member written with the master's password")
            layer = RedisChannelLayer(hosts=[{
                "sentinels": [("127.0.0.1", self.sentinels[0].port)],
                "master_name": MASTER_NAME,
                "password": master_pw,
                "sentinel_kwargs": {"password": sentinel_pw},
            }])
            await layer.group_send("chat_lobby", {"type": "chat.message", "message": "authenticated"})
            self.assertEqual(seed_view(await recv_json(a, 15)), {"message": "authenticated"})
            await layer.close_pools()
            await a.close()
        arun(body(), 60)
        logged = self.ld.log_text().split("\n", 1)[1]  # after the harness's echo of the command line
        self.assertNotIn("m4ster", logged)
        self.assertNotIn(sentinel_pw, logged)


class NoSentinel(SentinelCase):
    def test_layerd_keeps_running_and_retries_while_no_sentinel_answers(self):
        # Sentinel ports nobody listens on yet.
        self.sentinels_ports = [free_port(), free_port()]
        url = "sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinels_ports) + f"/{MASTER_NAME}"
        self.start_layerd_on_sentinels(url)
        gw = self.start_gateway([self.ld.endpoint], id="gwa")

        async def body():
            a = await ws_connect(gw, "lobby")
            b = await ws_connect(gw, "lobby")
            await asyncio.sleep(0.5)
            await send_msg(a, "no redis")  # memory is the truth: chat goes on
            self.assertEqual(seed_view(await recv_json(b, 10)), {"message": "no redis"})
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "no redis"})
            await await_until(lambda: re.search(r"redis master unknown shard=0 master_name=mymaster "
                                                r"reason=\"no sentinel reachable\" sentinels=2 reachable=0",
                                                self.ld.log_text()), 15, "the log line")
            await asyncio.sleep(6)
            self.ld.check_alive("no sentinel")
            m = scrape_metrics(self.mport)
            self.assertEqual(m["switchboard_layerd_redis_up"], 0.0)
            shard = f'{{shard="0",address="{MASTER_NAME}@127.0.0.1:{self.sentinels_ports[0]},' \
                    f'127.0.0.1:{self.sentinels_ports[1]}/0"'
            self.assertEqual(m[f"switchboard_layerd_redis_shard_sentinels_up{shard}}}"], 0.0)
            self.assertEqual(m[f'switchboard_layerd_redis_shard_master{shard},master=""}}'], 0.0)
            # Rate-limited: one line per interval (5 s), not one per retry (4 a second).
            lines = len(re.findall("redis master unknown", self.ld.log_text()))
            self.assertLessEqual(lines, 4, self.ld.log_text()[-3000:])

            # The sentinels come up (one is enough): layerd finds the master and
            # writes the members it kept in memory.
            master = self.start_redis()
            self.sentinels = [self.own(Sentinel(self.sentinels_ports[1], master.port, self.workdir, "late")).start()]
            await await_until(lambda: self.metric("switchboard_layerd_redis_up") == 1.0, 30, "layerd on the master")
            await await_until(lambda: int(master.cmd("ZCARD", group_key("lobby"))) == 2, 15, "members written")
            await send_msg(b, "redis back")
            self.assertEqual(seed_view(await recv_json(a, 10)), {"message": "redis back"})
            self.assertEqual(seed_view(await recv_json(b, 10)), {"message": "redis back"})
            await a.close()
            await b.close()
        arun(body(), 90)

    def test_a_sentinel_that_never_answers_is_skipped_for_the_next(self):
        # A listener that accepts and never replies, listed first.
        import socket
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        self.addCleanup(silent.close)
        self.start_sentinel_set(sentinels=1)
        url = f"sentinel://127.0.0.1:{silent.getsockname()[1]},127.0.0.1:{self.sentinels[0].port}/{MASTER_NAME}"
        self.start_layerd_on_sentinels(url)
        wait_until(lambda: self.metric("switchboard_layerd_redis_up") == 1.0, 30, "layerd on the master")
        self.assertRegex(self.ld.log_text(), rf"redis master found shard=0 master_name={MASTER_NAME} "
                                             rf"master=127\.0\.0\.1:{self.master.port}")

    def test_a_master_name_the_sentinels_do_not_know_is_logged_and_retried(self):
        self.start_sentinel_set(sentinels=1)
        self.start_layerd_on_sentinels(f"sentinel://127.0.0.1:{self.sentinels[0].port}/nosuchmaster")
        wait_until(lambda: "redis master unknown shard=0 master_name=nosuchmaster" in self.ld.log_text(), 15,
                   "the log line")
        self.assertIn("No such master", self.ld.log_text())
        self.ld.check_alive("unknown master name")
        self.assertEqual(self.metric("switchboard_layerd_redis_up"), 0.0)


class LyingSentinel(SentinelCase):
    def fake_sentinel(self, master_port: int) -> int:
        """A tiny RESP server on a free port that answers every SENTINEL
        command with a master (flags "master") at 127.0.0.1:master_port."""
        import socket
        import threading
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        self.addCleanup(lsock.close)
        fields = ["name", MASTER_NAME, "ip", "127.0.0.1", "port", str(master_port), "flags", "master"]
        answer = (f"*{len(fields)}\r\n" + "".join(f"${len(f)}\r\n{f}\r\n" for f in fields)).encode()

        def serve(conn):
            with conn:
                buf = b""
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                    # one answer per SENTINEL command (the only one layerd sends here)
                    while b"$8\r\nSENTINEL\r\n" in buf:
                        buf = buf[buf.index(b"$8\r\nSENTINEL\r\n") + 14:]
                        conn.sendall(answer)

        def accept():
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        return lsock.getsockname()[1]

    def test_a_server_named_master_that_is_a_replica_is_not_used(self):
        # A "sentinel" (a tiny RESP server) that names the replica as master:
        # layerd must check ROLE, refuse it, log it and keep the shard down.
        self.master = self.start_redis()
        self.replica = self.start_redis()
        self.replica.cmd("REPLICAOF", "127.0.0.1", str(self.master.port))
        fake = self.fake_sentinel(self.replica.port)
        self.start_layerd_on_sentinels(f"sentinel://127.0.0.1:{fake}/{MASTER_NAME}")
        wait_until(lambda: re.search(rf"redis not a master host=127\.0\.0\.1 port={self.replica.port} "
                                     rf"role=\"slave\"", self.ld.log_text()), 15, "the refusal logged")
        self.assertEqual(self.metric("switchboard_layerd_redis_up"), 0.0)
        self.ld.check_alive("a lying sentinel")

    def test_a_named_master_that_never_answers_is_given_up_and_retried(self):
        # The "sentinel" names a listener that takes connections and never
        # answers: layerd must not wait on it for ever.
        import socket
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        self.addCleanup(silent.close)
        fake = self.fake_sentinel(silent.getsockname()[1])
        self.start_layerd_on_sentinels(f"sentinel://127.0.0.1:{fake}/{MASTER_NAME}")
        wait_until(lambda: re.search(rf"redis unavailable host=127\.0\.0\.1 port={silent.getsockname()[1]} "
                                     rf"reason=\"no answer to ROLE in time\"", self.ld.log_text()), 20,
                   "the silent master given up")
        self.assertEqual(self.metric("switchboard_layerd_redis_up"), 0.0)
        self.ld.check_alive("a silent master")


class BadUrls(ProcessTestCase):
    def test_a_bad_sentinel_url_stops_layerd_and_the_cli_with_one_clear_line(self):
        import subprocess
        from harness import LAYERD_BIN
        cases = {
            "sentinel://127.0.0.1:26379": "missing master name",
            "sentinel://127.0.0.1:99999/m": "bad sentinel port",
            "sentinel://:pw@127.0.0.1/m": "takes no user or password",
            "sentinel://127.0.0.1/m?db=x": "bad database number",
            "sentinel://127.0.0.1/m?colour=blue": "unknown key",
        }
        for url, text in cases.items():
            for argv in ([str(LAYERD_BIN), "--bind", f"tcp://127.0.0.1:{free_port()}", "--redis", url],
                         [str(CLI_BIN), "--redis", url, "groups"]):
                run = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
                self.assertEqual(run.returncode, 2, (argv, run.stderr))
                self.assertIn(text, run.stderr, argv)
                self.assertEqual(len(run.stderr.strip().splitlines()), 1, run.stderr)
        # a password in the URL is never echoed
        run = subprocess.run([str(CLI_BIN), "--redis", "sentinel://h:0/m?password=s3cret", "groups"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(run.returncode, 2)
        self.assertNotIn("s3cret", run.stderr)

    def test_the_cli_says_which_sentinels_it_tried_when_none_answers(self):
        import subprocess
        port = free_port()
        run = subprocess.run([str(CLI_BIN), "--timeout-ms", "500", "--redis", f"sentinel://127.0.0.1:{port}/m",
                              "groups"], capture_output=True, text=True, timeout=20)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn(f"no Redis master named m from the sentinels (127.0.0.1:{port}:", run.stderr)


if __name__ == "__main__":
    unittest.main()
