# Integration-test harness: starts real redis-server, switchboard-layerd and
# switchboard-gateway processes on loopback and always tears them down.
#
# Why it is shaped this way: every test owns its processes (fresh ports, its
# own temp dir, its own Redis), so a crash or a hang in one test cannot leak
# into the next. Each process runs in its own process group and is killed by
# group in a cleanup that runs even when the test fails; its stderr goes to a
# temp file that is printed when the test fails. Every wait has a deadline
# and every polling loop a bounded number of rounds. Stdlib only, plus
# Debian's python3-websockets (10.4) and python3-zmq.
import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

import websockets
import websockets.exceptions

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("SB_BIN_DIR", str(REPO / "build" / "bin")))
GATEWAY_BIN = BIN_DIR / "switchboard-gateway"
LAYERD_BIN = BIN_DIR / "switchboard-layerd"
REDIS_BIN = Path(os.environ.get("SB_REDIS_SERVER", "/usr/bin/redis-server"))
# The option tables (one per binary) that test_cli.py holds against --help.
OPERATIONS_DOC = REPO / "docs" / "operations.md"
CLI_BIN = BIN_DIR / "switchboard-cli"
# The seed's pages (the Django tutorial templates), which the gateway must serve unchanged.
SEED_DIR = Path(os.environ.get("SB_SEED_DIR", str(REPO / "gateway" / "pages")))

START_TIMEOUT = 10.0  # seconds a process gets to become ready
POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------
# small utilities

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class WaitTimeout(AssertionError):
    pass


def wait_until(pred, timeout: float, what: str, interval: float = POLL_INTERVAL):
    """Call pred() until it returns a truthy value; bounded in time and rounds."""
    deadline = time.monotonic() + timeout
    rounds = int(timeout / interval) + 2
    last = None
    for _ in range(rounds):
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last={last!r})")


async def await_until(pred, timeout: float, what: str, interval: float = POLL_INTERVAL):
    """Async wait_until; pred may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    rounds = int(timeout / interval) + 2
    last = None
    for _ in range(rounds):
        last = pred()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last={last!r})")


def arun(coro, timeout: float):
    """Run one async test body, bounded by asyncio.wait_for."""
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout))


def group_name(room: str) -> str:
    """The room -> group rule of docs/protocol.md (Rooms, groups and channel names)."""
    g = "chat_" + room
    if g.isascii() and len(g) < 100:
        return g
    return "chat_." + hashlib.sha1(room.encode("utf-8")).hexdigest()[:32]


def group_key(room: str, prefix: str = "asgi") -> str:
    return f"{prefix}:group:{group_name(room)}"


def channel_re(gateway_id: str) -> re.Pattern:
    """specific.<id>.<16 hex>!<conn id>"""
    return re.compile(r"^specific\." + re.escape(gateway_id) + r"\.[0-9a-f]{16}![^\s!]+$")


# --------------------------------------------------------------------------
# a tiny RESP (Redis protocol) client

class RedisError(Exception):
    pass


class Resp:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 2.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rf = self.sock.makefile("rb")

    def close(self):
        with contextlib.suppress(OSError):
            self.rf.close()
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode("utf-8")
            elif not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self) -> bytes:
        line = self.rf.readline(1 << 20)
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis connection closed")
        return line[:-2]

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError(f"bad reply {line!r}")


def redis_cmd(port: int, *args, timeout: float = 2.0):
    with Resp(port, timeout=timeout) as r:
        return r.command(*args)


# --------------------------------------------------------------------------
# processes

class Process:
    """One child process in its own process group, stderr to a temp file."""

    def __init__(self, name: str, argv, workdir: Path = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sb-it-"))
        self.log_path = self.workdir / f"{name}.log"
        self.proc = None

    # `with Gateway(...) as gw:` starts it and always stops it.
    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None:
            sys.stderr.write(f"-------- {self.name} log --------\n{self.log_text()[-20000:]}\n")
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self):
        return self.spawn()

    def spawn(self):
        if not Path(self.argv[0]).exists():
            raise AssertionError(f"binary not found: {self.argv[0]} (set SB_BIN_DIR)")
        log = open(self.log_path, "ab")
        try:
            log.write(b"==== start: " + " ".join(self.argv).encode() + b"\n")
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    def signal_group(self, sig):
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def kill(self, sig=signal.SIGKILL, timeout: float = 5.0):
        """Send sig to the process group and reap the process (bounded)."""
        if self.proc is None:
            return
        self.signal_group(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self):
        """SIGTERM to the process group, then SIGKILL after 5 s; always reaps."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM, timeout=5.0)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self, what: str):
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited (rc={self.returncode()}) while waiting for {what}\n"
                f"--- {self.name} log ---\n{self.log_text()[-4000:]}")


class RedisServer(Process):
    """redis-server on 127.0.0.1:<port> with its own data dir and no persistence;
    stop() then start() brings it back, empty, on the same port."""

    def __init__(self, port: int = None, workdir: Path = None, name: str = "redis"):
        self.port = port or free_port()
        super().__init__(name, [REDIS_BIN], workdir)
        self.data_dir = self.workdir / f"{name}-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.argv += [str(a) for a in [
            "--port", self.port, "--bind", "127.0.0.1",
            "--dir", self.data_dir, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "no", "--logfile", ""]]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.spawn()

        def ready():
            self.check_alive("redis PING")
            try:
                return redis_cmd(self.port, "PING", timeout=0.5) == "PONG"
            except (OSError, ConnectionError, RedisError):
                return False
        wait_until(ready, START_TIMEOUT, f"{self.name} on port {self.port}")
        return self

    def cmd(self, *args):
        return redis_cmd(self.port, *args)

    def calls(self, command: str) -> int:
        """How many times this Redis has run `command` (INFO commandstats):
        a positive sign that a command another process sends asynchronously,
        e.g. layerd's EVAL of a script, has run."""
        info = self.cmd("INFO", "commandstats")
        info = info.decode() if isinstance(info, bytes) else info
        m = re.search(rf"^cmdstat_{command.lower()}:calls=(\d+)", info, re.M)
        return int(m.group(1)) if m else 0

    def stop(self):
        super().stop()
        self.proc = None


class Layerd(Process):
    """switchboard-layerd bound to endpoint (a free loopback port when None)."""

    def __init__(self, endpoint: str, redis_url: str, extra_args=(), id: str = "layerd",
                 log_level: str = "debug", workdir: Path = None):
        if endpoint is None:
            endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.endpoint = endpoint
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.redis_url = redis_url
        self.id = id
        super().__init__(id, [
            LAYERD_BIN, "--bind", endpoint, "--redis", redis_url, "--id", id,
            "--log-level", log_level, *extra_args], workdir)

    def start(self):
        self.spawn()

        def ready():
            self.check_alive("its ROUTER socket")
            return tcp_accepts(self.port)
        wait_until(ready, START_TIMEOUT, f"{self.name} listening on {self.endpoint}")
        return self


def make_self_signed(directory: Path, name: str = "tls", cn: str = "localhost"):
    """A fresh self-signed certificate for localhost and 127.0.0.1:
    (cert path, key path), made with the openssl command."""
    cert, key = Path(directory) / f"{name}.crt", Path(directory) / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def client_tls_context(cafile) -> ssl.SSLContext:
    """Verifies the server against cafile (hostname included), nothing else trusted."""
    return ssl.create_default_context(cafile=str(cafile))


class Gateway(Process):
    """switchboard-gateway on --listen 127.0.0.1:<free port>, --layerd for each endpoint.
    tls=(cert, key) serves https/wss; clients then trust exactly that cert."""

    def __init__(self, layerd_endpoints, extra_args=(), id: str = "gw", port: int = None,
                 log_level: str = "debug", workdir: Path = None, tls=None):
        self.port = port or free_port()
        self.id = id
        self.layerd_endpoints = list(layerd_endpoints)
        self.ssl_context = client_tls_context(tls[0]) if tls else None
        argv = [GATEWAY_BIN, "--listen", f"127.0.0.1:{self.port}", "--id", id,
                "--log-level", log_level]
        for e in self.layerd_endpoints:
            argv += ["--layerd", e]
        if tls:
            argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        argv += list(extra_args)
        super().__init__(id, argv, workdir)

    def healthz(self, timeout: float = 1.0):
        """(status, body) of GET /healthz, or None when nothing answers."""
        try:
            status, _, body = http_request(self.port, "GET", "/healthz", timeout=timeout,
                                           ssl_context=self.ssl_context)
            return status, body
        except (OSError, http.client.HTTPException):
            return None

    def start(self, expect_status=200):
        """Start and poll /healthz until it answers expect_status (None = anything)."""
        self.spawn()

        def ready():
            self.check_alive("/healthz")
            r = self.healthz()
            if r is None:
                return False
            return expect_status is None or r[0] == expect_status
        wait_until(ready, START_TIMEOUT, f"{self.name} /healthz == {expect_status}")
        return self

    def http_url(self, path: str = "/") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def ws_url(self, room: str) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/ws/chat/{urllib.parse.quote(room, safe='')}/"


def http_request(port: int, method: str, path: str, headers=None, body=None,
                 timeout: float = 5.0, ssl_context=None):
    if ssl_context is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ssl_context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def scrape_metrics(port: int, ssl_context=None) -> dict:
    """GET /metrics (Prometheus text) on port: {"name{labels}": value}."""
    status, _, body = http_request(port, "GET", "/metrics", timeout=5, ssl_context=ssl_context)
    if status != 200:
        raise AssertionError(f"/metrics on port {port} answered {status}")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


# --------------------------------------------------------------------------
# test case base

class Cluster:
    """1 Redis, N layerds, M gateways (every gateway lists every layerd, same order)."""

    def __init__(self, redis, layerds, gateways):
        self.redis = redis
        self.layerds = layerds
        self.gateways = gateways

    @property
    def endpoints(self):
        return [l.endpoint for l in self.layerds]

    def members(self, room: str, prefix: str = "asgi"):
        return [m.decode() for m in self.redis.cmd("ZRANGE", group_key(room, prefix), 0, -1)]


class ProcessTestCase(unittest.TestCase):
    """Owns a temp dir and every process started through it; dumps logs on failure."""

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self._procs = []
        self.workdir = Path(tempfile.mkdtemp(prefix="sb-it-"))
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            if failed or os.environ.get("SB_TEST_SHOW_LOGS"):
                self._dump_logs()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _dump_logs(self, tail_chars: int = 20000):
        out = sys.stderr
        out.write(f"\n======== process logs for {self.id()} ========\n")
        for p in self._procs:
            text = p.log_text()
            if len(text) > tail_chars:
                text = "[... cut ...]\n" + text[-tail_chars:]
            out.write(f"-------- {p.name} (pid {p.pid}, rc {p.returncode()}) --------\n")
            out.write(text)
            if not text.endswith("\n"):
                out.write("\n")
        out.flush()

    def own(self, proc: Process) -> Process:
        """Register proc so it is always stopped (cleanups run even on failure)."""
        self._procs.append(proc)
        self.addCleanup(proc.stop)
        return proc

    def start_redis(self, port: int = None) -> RedisServer:
        return self.own(RedisServer(port=port, workdir=self.workdir, name=f"redis{len(self._procs)}")).start()

    def start_layerd(self, redis_url: str, extra_args=(), id: str = None,
                     endpoint: str = None) -> Layerd:
        id = id or f"layerd{sum(isinstance(p, Layerd) for p in self._procs)}"
        return self.own(Layerd(endpoint, redis_url, extra_args=extra_args, id=id,
                               workdir=self.workdir)).start()

    def start_gateway(self, endpoints, extra_args=(), id: str = None,
                      expect_status=200, tls=None) -> Gateway:
        id = id or f"gw{sum(isinstance(p, Gateway) for p in self._procs)}"
        gw = self.own(Gateway(endpoints, extra_args=extra_args, id=id, workdir=self.workdir, tls=tls))
        return gw.start(expect_status=expect_status)

    def start_cluster(self, layerds: int = 2, gateways: int = 2, gateway_args=(),
                      layerd_args=(), gateway_ids=("gwa", "gwb", "gwc", "gwd")) -> Cluster:
        redis = self.start_redis()
        lds = [self.start_layerd(redis.url, extra_args=layerd_args, id=f"layerd{i}")
               for i in range(layerds)]
        eps = [l.endpoint for l in lds]
        gws = [self.start_gateway(eps, extra_args=gateway_args, id=gateway_ids[i])
               for i in range(gateways)]
        c = Cluster(redis, lds, gws)
        self.wait_links_up(c)
        return c

    def wait_links_up(self, cluster: Cluster, timeout: float = START_TIMEOUT):
        """Every gateway reaches every layerd: a join through each gateway in a
        room per layerd would be ideal, but the ring hash is private, so we wait
        for /healthz 200 and, when the body reports link counts, for all up."""
        n = len(cluster.layerds)
        for gw in cluster.gateways:
            def ok():
                gw.check_alive("layerd links")
                r = gw.healthz()
                if r is None or r[0] != 200:
                    return False
                up = links_up(r[1])
                return up is None or up >= n
            wait_until(ok, timeout, f"{gw.name}: all {n} layerd links up")


def links_up(body: bytes):
    """Number of layerd links up reported by /healthz, or None if not reported."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    for key in ("links_up", "layerds_up", "layerd_links_up", "up"):
        if isinstance(doc.get(key), int):
            return doc[key]
    for key in ("layerds", "links", "layerd"):
        v = doc.get(key)
        if isinstance(v, list):
            cnt = 0
            for item in v:
                if isinstance(item, dict):
                    st = item.get("up", item.get("status", item.get("state")))
                    if st is True or st in ("up", "ok", "connected"):
                        cnt += 1
            return cnt
        if isinstance(v, dict):
            for k2 in ("up", "links_up"):
                if isinstance(v.get(k2), int):
                    return v[k2]
    return None


# --------------------------------------------------------------------------
# WebSocket clients

async def ws_connect(gw: Gateway, room: str, open_timeout: float = 10.0, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", 1 << 22)
    kw.setdefault("close_timeout", 2)
    if gw.ssl_context is not None:
        kw.setdefault("ssl", gw.ssl_context)
    return await websockets.connect(gw.ws_url(room), open_timeout=open_timeout, **kw)


async def handshake_status(url: str, timeout: float = 10.0) -> int:
    """HTTP status a WebSocket handshake to url gets (101 when it upgrades)."""
    try:
        ws = await websockets.connect(url, open_timeout=timeout, ping_interval=None,
                                      close_timeout=1)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


class Clients:
    """Async context manager that closes every WebSocket it opened."""

    def __init__(self):
        self.sockets = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close_all()

    async def connect(self, gw: Gateway, room: str, **kw):
        ws = await ws_connect(gw, room, **kw)
        self.sockets.append(ws)
        return ws

    async def close_all(self):
        socks, self.sockets = self.sockets, []
        if socks:
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in socks), return_exceptions=True), 10)


async def recv_json(ws, timeout: float = 5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    if not isinstance(raw, str):
        raise AssertionError(f"expected a text frame, got {type(raw).__name__}")
    return json.loads(raw)


async def first_message(sockets, timeout: float = 10.0):
    """The first JSON message any of sockets receives within timeout, or
    None; the other reads are cancelled (websockets allows cancelling recv,
    nothing is lost)."""
    tasks = [asyncio.ensure_future(recv_json(ws, timeout)) for ws in sockets]
    done, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    results = [t.result() for t in done if not t.exception()]
    return results[0] if results else None


async def recv_n(ws, n: int, timeout: float = 10.0):
    """Exactly n messages (in order), all within timeout."""
    async def body():
        return [await recv_json(ws, timeout) for _ in range(n)]
    return await asyncio.wait_for(body(), timeout)


async def recv_until(ws, pred, timeout: float = 5.0, limit: int = 100000):
    """Receive until pred(msg) is true; returns every message including that one."""
    got = []

    async def body():
        for _ in range(limit):
            m = await recv_json(ws, timeout)
            got.append(m)
            if pred(m):
                return got
        raise AssertionError(f"no matching message in {limit} messages")
    try:
        return await asyncio.wait_for(body(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s; received so far: {got[-20:]!r}")


async def send_msg(ws, message: str):
    await ws.send(json.dumps({"message": message}))


async def expect_close(ws, timeout: float = 5.0):
    """Drain until the server closes; returns (close code, reason)."""
    async def drain():
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            for _ in range(100000):
                await ws.recv()
    await asyncio.wait_for(drain(), timeout)
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code, ws.close_reason


async def chat_works(sender, receivers, tag: str, timeout: float = 5.0):
    """sender sends a unique message; every receiver gets it (skipping earlier traffic)."""
    await send_msg(sender, tag)
    await asyncio.gather(*(recv_until(r, lambda m: m.get("message") == tag, timeout)
                           for r in receivers))


async def chat_eventually_works(sender, receivers, tag: str, timeout: float = 15.0,
                                attempt_timeout: float = 1.0):
    """Retry chat_works with fresh tags until one round trip succeeds (bounded)."""
    deadline = time.monotonic() + timeout
    last = None
    for i in range(int(timeout / attempt_timeout) + 2):
        if time.monotonic() >= deadline:
            break
        try:
            await chat_works(sender, receivers, f"{tag}#{i}", attempt_timeout)
            return i
        except (AssertionError, asyncio.TimeoutError) as e:
            last = e
    raise AssertionError(f"chat did not work within {timeout}s: {last}")


class RawWebSocket:
    """A hand-made blocking WebSocket client with a tiny receive buffer, for a
    consumer that does not read (websockets' client reads ahead for us)."""

    def __init__(self, port: int, path: str, rcvbuf: int = 4096, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        if ssl_context is not None:  # wss: the same frames, inside TLS
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        for _ in range(1000):
            if b"\r\n\r\n" in self.buf:
                break
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_exact(self, n: int):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                return None
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frames(self, max_frames: int = 100000):
        """Every frame until EOF or a close frame: list of (opcode, payload);
        the second value says whether the stream ended with a close frame."""
        frames = []
        try:
            for _ in range(max_frames):
                h = self._read_exact(2)
                if h is None:
                    return frames, False
                opcode, n = h[0] & 0x0F, h[1] & 0x7F
                if n == 126:
                    n = int.from_bytes(self._read_exact(2) or b"\0\0", "big")
                elif n == 127:
                    n = int.from_bytes(self._read_exact(8) or b"\0" * 8, "big")
                payload = self._read_exact(n)
                if payload is None:
                    return frames, False
                frames.append((opcode, payload))
                if opcode == 8:
                    return frames, True
        except ConnectionResetError:
            return frames, False
        raise AssertionError(f"more than {max_frames} frames")
