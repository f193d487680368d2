# harness_processes.py — the processes a test starts (redis-server, layerd,
# gateways, a whole cluster) and the test case base that always tears them
# down.
#
# Every test owns its processes (fresh ports, its own temp dir, its own
# Redis), so a crash or a hang in one test cannot leak into the next. Each
# process runs in its own process group and is killed by group in a cleanup
# that runs even when the test fails; its stderr goes to a temp file that is
# printed when the test fails.
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
from pathlib import Path

from harness_base import *  # noqa: F401,F403  (paths, waits, Redis client)

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
            # a subclass may set self.env / self.cwd (e.g. a Django process)
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=getattr(self, "env", None), cwd=getattr(self, "cwd", None), start_new_session=True)
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
        # Room history off unless the test asks for it: older tests compare
        # whole frames, and history stamps an id and a time on chat lines.
        history = () if any(str(a).startswith("--history") for a in extra_args) else ("--history", "off")
        super().__init__(id, [
            LAYERD_BIN, "--bind", endpoint, "--redis", redis_url, "--id", id,
            "--log-level", log_level, *history, *extra_args], workdir)

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
