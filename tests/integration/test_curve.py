# test_curve.py — layerd's ZeroMQ port with CURVE keys (docs/operations.md,
# "Securing layerd's port"; docs/architecture.md, rule 12). With keys on,
# two gateways and switchboard-cli holding allowed keys chat as before,
# while a DEALER without CURVE, one with a key that is not on the
# allow-list, a client key acting as a gateway, and a peer claiming a live
# gateway's routing id get nothing through: no WELCOME, nothing reaches a
# browser, the real gateway's members stay in Redis, and
# switchboard_layerd_auth_refused_total counts each refusal. Also: layerd
# refuses a non-loopback --bind without keys unless --insecure, and bad key
# files and allow-lists are clear start-up errors.
import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import unittest

import msgpack
import zmq

from harness import (CLI_BIN, LAYERD_BIN, Clients, Cluster, Layerd, ProcessTestCase, START_TIMEOUT, arun, await_until,
                     chat_eventually_works, chat_works, first_message, free_port, group_key, scrape_metrics, tcp_accepts, wait_until)

HELLO, WELCOME, GROUP_ADD, GROUP_SEND, HEARTBEAT, ERROR, SYNC = 1, 2, 3, 5, 7, 9, 11  # proto/messages.hpp


def run_bin(path, *args, timeout=20):
    return subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def keygen(prefix):
    """A key pair from switchboard-cli keygen: (secret file, public file, public key)."""
    r = run_bin(CLI_BIN, "keygen", prefix)
    assert r.returncode == 0, r.stderr
    return f"{prefix}.key", f"{prefix}.pub", r.stdout.strip()


def z85_secret(path):
    with open(path) as f:
        return next(l for l in f.read().splitlines() if len(l) == 40).encode()


def pwned_event(text="pwned"):
    return msgpack.packb({"type": "chat.message", "message": text})


class KeyFiles(ProcessTestCase):
    """switchboard-cli keygen, and the start-up errors of bad key files."""

    def test_keygen_writes_a_private_secret_file_and_a_public_file(self):
        secret, public, key = keygen(self.workdir / "gw")
        self.assertEqual(stat.S_IMODE(os.stat(secret).st_mode), 0o600)
        self.assertRegex(key, r"^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
        with open(public) as f:
            self.assertIn(key, f.read())
        pub = zmq.curve_public(z85_secret(secret)).decode()
        self.assertEqual(pub, key)
        again = run_bin(CLI_BIN, "keygen", self.workdir / "gw")
        self.assertEqual(again.returncode, 1)
        self.assertIn("cannot create", again.stderr)

    def layerd_fails(self, *args):
        r = run_bin(LAYERD_BIN, "--bind", f"tcp://127.0.0.1:{free_port()}", "--redis",
                    f"redis://127.0.0.1:{free_port()}/0", *args)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        return r.stderr

    def test_bad_key_files_and_allow_lists_stop_layerd_with_the_reason(self):
        secret, public, key = keygen(self.workdir / "layerd")
        _, _, gw_key = keygen(self.workdir / "gw")
        cases = {
            "bad key": (f"{gw_key} gateway gw\nnot-a-key gateway gw2\n", r"line 2: .*not a CURVE public key"),
            "unknown role": (f"# ok\n{gw_key} admin\n", r"line 2: unknown role \"admin\""),
            "gateway without id": (f"{gw_key} gateway\n", r"line 1: expected `<key> gateway <id>`"),
            "twice": (f"{gw_key} gateway a\n{gw_key} client\n", r"line 2: this key is listed twice"),
            "empty": ("# nothing\n", r"no keys"),
        }
        for name, (text, pattern) in cases.items():
            with self.subTest(name):
                allow = self.workdir / f"allow-{name.replace(' ', '-')}"
                allow.write_text(text)
                err = self.layerd_fails("--curve-secret-file", secret, "--curve-allow-file", allow)
                self.assertRegex(err, pattern)
        allow = self.workdir / "allow-ok"
        allow.write_text(f"{gw_key} gateway gw\n")
        with self.subTest("world-readable secret key"):
            os.chmod(secret, 0o644)
            self.assertIn("readable by other users", self.layerd_fails("--curve-secret-file", secret,
                                                                        "--curve-allow-file", allow))
            os.chmod(secret, 0o600)
        with self.subTest("a public key given as the secret key file"):
            os.chmod(public, 0o600)
            garbage = self.workdir / "garbage.key"
            garbage.write_text("hello\n")
            os.chmod(garbage, 0o600)
            self.assertIn("not a CURVE key", self.layerd_fails("--curve-secret-file", garbage,
                                                               "--curve-allow-file", allow))
        with self.subTest("only one of the pair"):
            err = self.layerd_fails("--curve-secret-file", secret)
            self.assertIn("go together", err)
        with self.subTest("gateway with a bad layerd public key file"):
            gw_secret = self.workdir / "gw.key"
            bad_pub = self.workdir / "bad.pub"
            bad_pub.write_text("short\n")
            r = run_bin(LAYERD_BIN.parent / "switchboard-gateway", "--listen", f"127.0.0.1:{free_port()}",
                        "--curve-secret-file", gw_secret, "--layerd-public-key-file", bad_pub)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("not a CURVE key", r.stderr)
        with self.subTest("cli with a missing key file"):
            r = run_bin(CLI_BIN, "--curve-secret-file", self.workdir / "nope.key", "--layerd-public-key-file",
                        public, "group-send", "chat_x", '{"type": "chat.message", "message": "x"}')
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("nope.key", r.stderr)


def non_loopback_address():
    """An IPv4 address of this host that is not loopback, or None."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    for a in out:
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127."):
            return a
    try:  # the address a default route would use (no packet is sent)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            a = s.getsockname()[0]
            return None if a.startswith("127.") else a
    except OSError:
        return None


class OpenBind(ProcessTestCase):
    """A --bind beyond loopback needs keys or an explicit --insecure."""

    def test_a_non_loopback_bind_without_keys_exits_2_unless_insecure(self):
        addr = non_loopback_address()
        if addr is None:
            self.skipTest("this host has no non-loopback IPv4 address to bind")
        port = free_port()
        ep = f"tcp://{addr}:{port}"
        redis_url = f"redis://127.0.0.1:{free_port()}/0"
        for bind in (ep, f"tcp://*:{port}", f"tcp://0.0.0.0:{port}"):
            with self.subTest(bind):
                r = run_bin(LAYERD_BIN, "--bind", bind, "--redis", redis_url)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--curve-secret-file", r.stderr)
                self.assertIn("--insecure", r.stderr)
                self.assertEqual(len([l for l in r.stderr.splitlines() if l.strip()]), 1, r.stderr)
        ld = self.own(Layerd(ep, redis_url, extra_args=["--insecure"], workdir=self.workdir))
        ld.spawn()

        def listening():
            ld.check_alive("its ROUTER socket")
            return tcp_accepts(port, addr)
        wait_until(listening, START_TIMEOUT, f"layerd --insecure listening on {ep}")


class CurveCluster(ProcessTestCase):
    """Redis, one layerd with keys, gateways gwa and gwb with allowed keys."""

    def setUp(self):
        d = self.workdir
        self.ld_secret, self.ld_public, self.ld_key = keygen(d / "layerd")
        self.gw_keys = {g: keygen(d / g) for g in ("gwa", "gwb")}
        self.client_secret, _, self.client_key = keygen(d / "ops")
        self.intruder_secret, _, self.intruder_key = keygen(d / "intruder")
        allow = d / "allow"
        allow.write_text("# gateways\n" + "".join(f"{k[2]} gateway {g}   # {g}\n" for g, k in self.gw_keys.items())
                         + f"{self.client_key} client ops\n")
        redis = self.start_redis()
        self.metrics_port = free_port()
        self.layerd = self.start_layerd(redis.url, id="layerd0", extra_args=[
            "--curve-secret-file", self.ld_secret, "--curve-allow-file", allow,
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}"])
        gws = [self.start_gateway([self.layerd.endpoint], id=g, extra_args=[
            "--curve-secret-file", self.gw_keys[g][0], "--layerd-public-key-file", self.ld_public])
            for g in ("gwa", "gwb")]
        self.c = Cluster(redis, [self.layerd], gws)
        self.wait_links_up(self.c)
        self.gwa, self.gwb = gws
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.term)

    # ---- helpers

    def refused(self, reason):
        return scrape_metrics(self.metrics_port).get(f'switchboard_layerd_auth_refused_total{{reason="{reason}"}}', 0)

    def dealer(self, routing_id: bytes, secret=None):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IDENTITY, routing_id)
        s.setsockopt(zmq.SNDTIMEO, 2000)
        if secret is not None:
            sec = z85_secret(secret)
            s.curve_secretkey = sec
            s.curve_publickey = zmq.curve_public(sec)
            s.curve_serverkey = self.ld_key.encode()
        s.connect(self.layerd.endpoint)
        self.addCleanup(s.close, 0)
        return s

    def send(self, s, kind, body):
        """Queued when ZeroMQ can take it; a refused peer may have no
        connection left to queue on (then the send times out: nothing sent)."""
        try:
            s.send_multipart([bytes([kind]), msgpack.packb(body)])
        except zmq.Again:
            pass

    def answer(self, s, want_kind, timeout_ms=5000):
        """The next message of want_kind (skipping heartbeats), or None."""
        for _ in range(20):
            if not s.poll(timeout_ms):
                return None
            frames = s.recv_multipart()
            if frames[0] == bytes([want_kind]):
                return msgpack.unpackb(frames[1])
        return None

    def cli(self, *args, keys=True):
        extra = ["--curve-secret-file", self.client_secret, "--layerd-public-key-file", self.ld_public] if keys else []
        return run_bin(CLI_BIN, "--layerd", self.layerd.endpoint, "--redis", self.c.redis.url, "--timeout-ms", 3000,
                       *extra, *args)

    def zcard(self, room):
        return self.c.redis.cmd("ZCARD", group_key(room))

    async def nothing_arrives(self, sockets, timeout=1.5):
        got = await first_message(sockets, timeout)
        self.assertIsNone(got, f"a browser received {got!r}")

    # ---- tests

    def test_chat_and_the_cli_work_with_the_right_keys(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "lobby")
                b = await cl.connect(self.gwb, "lobby")
                await chat_eventually_works(a, [a, b], "hello")
                await chat_works(b, [a, b], "hello back")
                r = self.cli("group-send", "chat_lobby", '{"type": "chat.message", "message": "from ops"}')
                self.assertEqual(r.returncode, 0, r.stderr)
                for ws in (a, b):
                    self.assertEqual((await first_message([ws], 5)), {"message": "from ops"})
                # without keys the CLI cannot get in
                r = self.cli("group-send", "chat_lobby", '{"type": "chat.message", "message": "no keys"}', keys=False)
                self.assertEqual(r.returncode, 1, r.stderr)
                await self.nothing_arrives([a, b])
        arun(body(), 90)

    def test_a_paused_layerd_is_taken_back_with_keys_on(self):
        # With keys, ROUTER handover is off: the gateway's fresh connection
        # (it re-creates the link after --layerd-timeout-ms, 3 s) may reach
        # layerd while its old one is still open there. It must still heal.
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "paused")
                b = await cl.connect(self.gwb, "paused")
                await chat_eventually_works(a, [a, b], "before")
                self.layerd.signal_group(signal.SIGSTOP)
                try:
                    for gw in (self.gwa, self.gwb):
                        await await_until(lambda: "layerd down" in gw.log_text(), 30, f"{gw.name} declares it down")
                    await asyncio.sleep(1)  # the fresh links are made while layerd is still paused
                finally:
                    self.layerd.signal_group(signal.SIGCONT)
                for gw in (self.gwa, self.gwb):
                    await await_until(lambda: gw.log_text().count("layerd up") >= 2, 40, f"{gw.name} takes it back")
                await chat_eventually_works(b, [a, b], "after", timeout=30)
                await await_until(lambda: self.zcard("paused") == 2, 30, "both members in Redis")
        arun(body(), 150)

    def assert_nothing_gets_through(self, make_dealer, routing_id: str, reason: str):
        # Counted before the dealer exists: its handshake is refused as soon as it connects.
        before = self.refused(reason)
        s = make_dealer()

        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "lobby")
                b = await cl.connect(self.gwb, "lobby")
                await chat_eventually_works(a, [a, b], "before")
                self.send(s, HELLO, [1, 1, routing_id, 0])
                self.send(s, GROUP_SEND, ["chat_lobby", pwned_event()])
                wait_until(lambda: self.refused(reason) > before, 15, f"auth_refused{{reason={reason}}} rises")
                self.assertIsNone(self.answer(s, WELCOME, 1000), "the intruder got WELCOME")
                await self.nothing_arrives([a, b])
                await chat_works(b, [a, b], "after")
        arun(body(), 90)

    def test_a_dealer_without_curve_gets_nothing_through(self):
        rid = "intruder.0123456789abcdef"
        self.assert_nothing_gets_through(lambda: self.dealer(rid.encode()), rid, "handshake")

    def test_a_curve_key_not_on_the_allow_list_gets_nothing_through(self):
        rid = "intruder.0123456789abcdef"
        self.assert_nothing_gets_through(lambda: self.dealer(rid.encode(), self.intruder_secret), rid, "unknown_key")

    def test_a_client_key_can_publish_but_not_act_as_a_gateway(self):
        rid = "cli.0123456789abcdef"
        s = self.dealer(rid.encode(), self.client_secret)
        before = self.refused("role")
        self.send(s, HELLO, [1, 1, rid, 0])  # as a gateway
        err = self.answer(s, ERROR)
        self.assertIsNotNone(err, "no ERROR for a client key's gateway HELLO")
        self.assertEqual(err[1], "forbidden")
        self.send(s, HELLO, [1, 1, rid, 1])  # as a client: fine
        self.assertIsNotNone(self.answer(s, WELCOME), "a client key's client HELLO got no WELCOME")
        self.send(s, SYNC, [])
        self.assertEqual(self.answer(s, ERROR)[1], "forbidden")
        self.send(s, GROUP_ADD, [9, "chat_lobby", f"specific.{rid}!1"])
        self.assertEqual(self.answer(s, ERROR)[1], "forbidden")
        self.assertGreaterEqual(self.refused("role"), before + 3)
        # a client key under a gateway-shaped routing id is refused outright
        other = "gwz.0123456789abcdef"
        t = self.dealer(other.encode(), self.client_secret)
        self.send(t, HELLO, [1, 1, other, 1])
        self.assertEqual(self.answer(t, ERROR)[1], "forbidden")
        self.assertIsNone(self.answer(t, WELCOME, 500))

    def test_a_gateway_key_may_send_to_a_django_worker_with_a_request(self):
        # what a gateway's django:NAME route does (docs/protocol.md, Part 3): SEND [channel, event, request]
        rid = "gwa.00112233445566ee"
        s = self.dealer(rid.encode(), self.gw_keys["gwa"][0])
        self.send(s, HELLO, [1, 3, rid, 0])
        self.assertIsNotNone(self.answer(s, WELCOME), "a gateway key's HELLO got no WELCOME")
        s.send_multipart([bytes([6]), msgpack.packb(["chat", msgpack.packb({"type": "switchboard.connect"}), 41],
                                                    use_bin_type=True)])
        self.assertEqual(self.answer(s, 10), [41], "ACK with the request")
        self.assertEqual(self.c.redis.cmd("ZCARD", "asgichat"), 1)

    def test_claiming_a_live_gateways_routing_id_changes_nothing(self):
        async def body():
            async with Clients() as cl:
                a = await cl.connect(self.gwa, "lobby")
                b = await cl.connect(self.gwb, "lobby")
                await chat_eventually_works(a, [a, b], "before")
                self.assertEqual(self.zcard("lobby"), 2)
                gwa_run_id = next(m for m in self.c.members("lobby") if m.startswith("specific.gwa."))
                gwa_run_id = gwa_run_id[len("specific."):].split("!")[0]
                rid = gwa_run_id.encode()
                handshakes = self.refused("handshake")
                # without CURVE: the handshake fails
                plain = self.dealer(rid)
                self.send(plain, HELLO, [1, 1, gwa_run_id, 0])
                self.send(plain, SYNC, [])
                wait_until(lambda: self.refused("handshake") > handshakes, 15, "the plain impostor refused")
                # with another allowed key (the client's, then gwb's): the id
                # is taken, so libzmq never gives it to them
                impostors = []
                for secret in (self.client_secret, self.gw_keys["gwb"][0]):
                    s = self.dealer(rid, secret)
                    self.send(s, HELLO, [1, 1, gwa_run_id, 0])
                    self.send(s, SYNC, [])
                    self.send(s, GROUP_SEND, ["chat_lobby", pwned_event()])
                    self.send(s, HELLO, [1, 1, gwa_run_id, 0])
                    impostors.append(s)
                for s in impostors:  # stay connected while gwa chats
                    self.assertIsNone(self.answer(s, WELCOME, 1500), "an impostor got WELCOME")
                self.assertEqual(self.zcard("lobby"), 2, self.c.members("lobby"))
                await self.nothing_arrives([a, b])
                await chat_works(a, [a, b], "after a", 5)
                await chat_works(b, [a, b], "after b", 5)
                self.assertEqual(self.zcard("lobby"), 2, self.c.members("lobby"))
                self.assertTrue(self.gwa.healthz()[0] == 200)
        arun(body(), 120)


if __name__ == "__main__":
    unittest.main()
