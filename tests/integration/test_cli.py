# Command line and start-up behaviour of the three binaries, as documented in
# docs/operations.md: each binary's option table there and its --help list
# the same options, both ways, with the same defaults (so the doc and the
# binaries cannot drift apart); a bad option or value exits 2 with one line,
# an address in use exits non-zero with a clear message, and an unreachable
# layerd or Redis is not fatal.
import re
import socket
import subprocess
import unittest

from harness import (CLI_BIN, GATEWAY_BIN, LAYERD_BIN, OPERATIONS_DOC, Clients, Gateway, Layerd,
                     ProcessTestCase, RedisServer, arun, chat_eventually_works, free_port,
                     handshake_status, tcp_accepts, wait_until, ws_connect, await_until)

NO_DEFAULT = None  # the table says none/empty, or --help shows no default


def documented_options(binary: str):
    """{option: default} from the '### <binary> options' table of
    docs/operations.md. The default is the backticked value of the second
    cell, NO_DEFAULT when that cell has none ("none", "empty", ...), and
    absent (not checked) when the cell is blank (--help, --version)."""
    text = OPERATIONS_DOC.read_text()
    m = re.search(r"^### " + re.escape(binary) + r" options\s*$(.*?)(?=^#)", text, re.S | re.M)
    assert m, f"no '### {binary} options' table in {OPERATIONS_DOC}"
    opts = {}
    for line in m.group(1).splitlines():
        if not line.startswith("|"):
            continue
        cells = line.split("|")
        names = re.findall(r"`(--[a-z0-9][a-z0-9-]*)`", cells[1])
        if not names:
            continue
        default_cell = cells[2].strip()
        value = re.match(r"`([^`]*)`", default_cell)
        for name in names:
            assert name not in opts, f"{name} is listed twice in the {binary} table"
            if value:
                opts[name] = value.group(1)
            elif default_cell:
                opts[name] = NO_DEFAULT
            else:
                opts[name] = "<not checked>"
    assert len(opts) >= 5, opts
    return opts


def help_options(binary: str, text: str):
    """{option: default or NO_DEFAULT} from a binary's --help text.

    The daemons print Boost's layout (`  --name arg (=default)`,
    `  -h [ --help ]`); switchboard-cli prints `  --name VALUE  ... (default X)`
    and `  -h, --help`."""
    opts = {}
    if binary == "switchboard-cli":
        lines = text.split("Options", 1)[1].split("Exit codes", 1)[0].splitlines()
        for line in lines:
            m = re.match(r"\s+(?:-[a-z], )?(--[a-z0-9][a-z0-9-]*)\b(.*)$", line)
            if m:
                d = re.search(r"\(default ([^)]+)\)", m.group(2))
                opts[m.group(1)] = d.group(1) if d else NO_DEFAULT
        return opts
    for line in text.splitlines():
        m = re.match(r"\s+(?:-[a-z] \[ )?(--[a-z0-9][a-z0-9-]*)(?: \])?(?: arg)?(?: \(=([^)]*)\))?(?:\s|$)", line)
        if m:
            opts[m.group(1)] = m.group(2) if m.group(2) else NO_DEFAULT
    return opts


def run_bin(path, *args, timeout=10):
    if not path.exists():
        raise AssertionError(f"binary not found: {path} (set SB_BIN_DIR)")
    return subprocess.run([str(path), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, text=True, start_new_session=True)


def nonempty_lines(s: str):
    return [l for l in s.splitlines() if l.strip()]


class CommandLine(unittest.TestCase):

    BINARIES = (("switchboard-gateway", GATEWAY_BIN), ("switchboard-layerd", LAYERD_BIN),
                ("switchboard-cli", CLI_BIN))

    def test_help_and_the_option_tables_list_the_same_options_and_defaults(self):
        for binary, path in self.BINARIES:
            with self.subTest(binary=binary):
                r = run_bin(path, "--help")
                self.assertEqual(r.returncode, 0, r.stderr)
                in_help = help_options(binary, r.stdout + r.stderr)
                in_doc = documented_options(binary)
                self.assertGreaterEqual(len(in_help), 5, r.stdout)
                missing_from_doc = sorted(set(in_help) - set(in_doc))
                missing_from_help = sorted(set(in_doc) - set(in_help))
                self.assertEqual(missing_from_doc, [],
                                 f"{binary}: in --help but not in the table of {OPERATIONS_DOC.name}")
                self.assertEqual(missing_from_help, [],
                                 f"{binary}: in the table of {OPERATIONS_DOC.name} but not in --help")
                for opt, documented in in_doc.items():
                    if documented == "<not checked>":
                        continue
                    self.assertEqual(in_help[opt], documented,
                                     f"{binary} {opt}: --help default {in_help[opt]!r}, "
                                     f"{OPERATIONS_DOC.name} says {documented!r}")

    def test_version_exits_zero_and_prints_something(self):
        for path in (LAYERD_BIN, GATEWAY_BIN):
            r = run_bin(path, "--version")
            with self.subTest(binary=path.name):
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue((r.stdout + r.stderr).strip())

    def test_a_bad_option_or_value_exits_2_with_one_line(self):
        cases = [
            (LAYERD_BIN, ["--definitely-not-an-option"]),
            (GATEWAY_BIN, ["--definitely-not-an-option"]),
            (LAYERD_BIN, ["--group-expiry", "soon"]),
            (LAYERD_BIN, ["--log-level", "loud"]),
            (GATEWAY_BIN, ["--threads", "many"]),
            (GATEWAY_BIN, ["--max-message-size", "-5x"]),
            (GATEWAY_BIN, ["--listen", "not-an-address"]),
            (GATEWAY_BIN, ["--flush-interval-us", "-1"]),
            (GATEWAY_BIN, ["--unacked-max-messages", "0"]),
            (GATEWAY_BIN, ["--unacked-max-bytes", "100"]),
            (GATEWAY_BIN, ["--flush-interval-us", "200000"]),
            (GATEWAY_BIN, ["--curve-secret-file", "gw.key"]),
            (GATEWAY_BIN, ["--route", "/ws/chat/<room>/ django:no!such"]),
            (GATEWAY_BIN, ["--route", "/ws/chat/<room>/ django:"]),
            (GATEWAY_BIN, ["--connect-timeout-ms", "0"]),
            (GATEWAY_BIN, ["--worker-timeout-ms", "10"]),
            (GATEWAY_BIN, ["--send-timeout-ms", "0"]),
            (GATEWAY_BIN, ["--route", "/ws/chat/<a>/<b>/ chat"]),
            (GATEWAY_BIN, ["--route", "/chat/<room>/ chat"]),
            (GATEWAY_BIN, ["--jwt-secret", "too-short"]),
            (GATEWAY_BIN, ["--jwt-secret-file", "/nonexistent/jwt.secret"]),
            (GATEWAY_BIN, ["--jwt-secret", "x" * 32, "--jwt-secret-file", "/etc/hostname"]),
            (GATEWAY_BIN, ["--jwt-leeway-s", "-1"]),
            (GATEWAY_BIN, ["--jwt-leeway-s", "3601"]),
            (GATEWAY_BIN, ["--anonymous", "maybe"]),
            (GATEWAY_BIN, ["--route", "/ws/chat/<room>/ chat auth=django:"]),
            (GATEWAY_BIN, ["--route", "/ws/chat/<room>/ chat auth=token"]),
            (LAYERD_BIN, ["--curve-allow-file", "allow"]),
            (LAYERD_BIN, ["--bind", "tcp://0.0.0.0:7100"]),
        ]
        for path, args in cases:
            with self.subTest(binary=path.name, args=args):
                r = run_bin(path, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(nonempty_lines(r.stderr)), 1, r.stderr)


class StartUp(ProcessTestCase):

    def hold_port(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        return s.getsockname()[1]

    def assert_exits_with_a_clear_bind_error(self, proc, port):
        proc.spawn()
        wait_until(lambda: not proc.alive(), 10, f"{proc.name} to exit")
        log = proc.log_text()
        self.assertNotEqual(proc.returncode(), 0, log)
        self.assertEqual(proc.returncode(), 1, "docs/operations.md: an address that cannot be bound exits 1")
        crit = [l for l in log.splitlines() if "critical" in l.lower()]
        self.assertEqual(len(crit), 1, log)
        self.assertTrue(str(port) in crit[0] or "in use" in crit[0].lower(),
                        f"message does not say which address or why: {crit[0]!r}")

    def test_the_gateway_exits_when_its_listen_address_is_in_use(self):
        port = self.hold_port()
        gw = self.own(Gateway([f"tcp://127.0.0.1:{free_port()}"], port=port, id="gw",
                              log_level="info", workdir=self.workdir))
        self.assert_exits_with_a_clear_bind_error(gw, port)

    def test_layerd_exits_when_its_bind_address_is_in_use(self):
        port = self.hold_port()
        ld = self.own(Layerd(f"tcp://127.0.0.1:{port}", f"redis://127.0.0.1:{free_port()}/0",
                             log_level="info", workdir=self.workdir))
        self.assert_exits_with_a_clear_bind_error(ld, port)

    def test_layerd_serves_its_http_api_on_an_ipv6_loopback_address(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        redis = self.start_redis()
        ld = self.start_layerd(redis.url, extra_args=["--api-token", "t0ken", "--http-listen", "[::1]:0"])
        found = {}

        def listening():
            m = re.search(r"http api listening address=::1:(\d+)", ld.log_text())
            if m:
                found["port"] = int(m.group(1))
            return bool(m)
        wait_until(listening, 10, "layerd to log its HTTP API address")
        with socket.create_connection(("::1", found["port"]), timeout=5) as s:
            s.sendall(b"GET /api/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n"
                      b"Connection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:200])
        self.assertIn(b'"groups"', reply)

    def test_a_gateway_with_no_reachable_layerd_keeps_running_and_reports_503(self):
        gw = self.start_gateway([f"tcp://127.0.0.1:{free_port()}"], expect_status=503)
        status, body = gw.healthz()
        self.assertEqual(status, 503)
        self.assertIn('"unavailable"', body.decode())
        with self.assertRaises(subprocess.TimeoutExpired):
            gw.proc.wait(timeout=2)  # still running after 2 s
        self.assertEqual(gw.healthz()[0], 503)
        # and a WebSocket handshake is refused with 503, not hung
        self.assertEqual(arun(handshake_status(gw.ws_url("lobby"), timeout=10), 20), 503)

    def test_layerd_with_no_reachable_redis_keeps_running_and_recovers(self):
        redis_port = free_port()
        ld = self.start_layerd(f"redis://127.0.0.1:{redis_port}/0")
        with self.assertRaises(subprocess.TimeoutExpired):
            ld.proc.wait(timeout=2)  # still running after 2 s
        self.assertTrue(tcp_accepts(ld.port))
        # once Redis appears on that port, chat through this layerd works
        self.own(RedisServer(port=redis_port, workdir=self.workdir)).start()
        gw = self.start_gateway([ld.endpoint], id="gw")

        async def body():
            async with Clients() as cl:
                async def join():
                    try:
                        ws = await ws_connect(gw, "late", open_timeout=3)
                    except Exception:
                        return None
                    cl.sockets.append(ws)
                    return ws
                a = await await_until(join, 20, "a join once Redis is up", interval=0.5)
                b = await await_until(join, 10, "a second join", interval=0.5)
                await chat_eventually_works(a, [a, b], "redis came up", 10)
        arun(body(), 60)
        self.assertTrue(ld.alive())


if __name__ == "__main__":
    unittest.main()
