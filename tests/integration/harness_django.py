# harness_django.py — Django workers for the integration tests: the
# tests/django_app processes (`manage.py runworker NAME ...` with
# switchboard_django), its database mode with a real login, the worker's
# stats line, and a fake gateway that speaks docs/protocol.md, Part 3, over
# Debian's real channels_redis (for tests that play the gateway).
import asyncio
import binascii
import os
import re
import subprocess

from channels_redis.core import RedisChannelLayer

from harness import REPO, Process, wait_until

PY = "/usr/bin/python3"  # Debian's python: it has the python3-django* packages
DJANGO_APP = REPO / "tests" / "django_app"
WORKER_START_TIMEOUT = 30.0


def django_env(redis_ports, db_dir=None, keys=None, stats_interval=1):
    """The test app's environment: its Redis hosts (one port or several),
    the database mode (db_dir), symmetric_encryption_keys, the stats line's
    interval."""
    env = dict(os.environ)
    ports = [redis_ports] if isinstance(redis_ports, int) else list(redis_ports)
    env.update({
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SB_REDIS_HOST": "127.0.0.1",
        "SB_REDIS_PORT": str(ports[0]),
        "SB_REDIS_HOSTS": ",".join(f"127.0.0.1:{p}" for p in ports),
        "SB_STATS_INTERVAL": str(stats_interval),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if db_dir:
        env["SB_DJANGO_DB_DIR"] = str(db_dir)
    if keys:
        env["SB_SYMMETRIC_KEYS"] = ",".join(keys)
    return env


def manage(env, *args, timeout=60):
    """`manage.py ARGS` in tests/django_app; returns stdout, raises on failure."""
    r = subprocess.run([PY, "manage.py", *args], cwd=str(DJANGO_APP), env=env, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True)
    if r.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} exited {r.returncode}:\n{r.stderr[-4000:]}")
    return r.stdout


def login_cookie(env, username="alice", password="wonderland-7"):
    """Migrates the database (env's SB_DJANGO_DB_DIR), creates the user and
    logs in through django.contrib.auth; returns the `sessionid=...` cookie."""
    manage(env, "migrate", "--noinput")
    return manage(env, "sb_login", username, password).strip()


class Runworker(Process):
    """`python3 manage.py runworker CHANNEL ...` serving tests/django_app."""

    def __init__(self, channels, env, workdir, name="worker"):
        self.env = env
        self.cwd = str(DJANGO_APP)
        super().__init__(name, [PY, "manage.py", "runworker", *channels], workdir)

    def start(self):
        self.spawn()
        return self

    def stats(self):
        """The last `stats ...` line of switchboard_django, as a dict (empty if none yet)."""
        lines = [l for l in self.log_text().splitlines() if " stats " in f" {l} " or l.startswith("stats ")]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}

    def wait_stat(self, name, pred, timeout=15.0):
        def ok():
            self.check_alive(f"stats {name}")
            return pred(self.stats().get(name, 0))
        wait_until(ok, timeout, f"{self.name}: stats {name}")
        return self.stats()


def shard(name, n):
    """channels_redis' consistent hash (docs/django.md, Several Redis hosts)."""
    return 0 if n == 1 else int((binascii.crc32(name.encode()) & 0xFFF) / (4096 / n))


def non_local(channel):
    return channel[:channel.index("!") + 1] if "!" in channel else channel


class FakeGateway:
    """Plays a gateway of docs/protocol.md, Part 3, with channels_redis:
    connects go to the worker channel NAME, socket messages to W (on the
    host W's process reads, as layerd writes them), and what workers send to
    `specific.<run id>!<conn>` or `!ctl` is read from the gateway's inbox on
    every host, as layerd drains it. With batch=True its connects say it
    takes switchboard.batch, and each batch's entries are queued under their
    socket (`batches` lists the sizes, `direct` the channels that got a
    message of their own). Use inside one event loop; close()."""

    def __init__(self, redis_ports, run_id="fakegw.0123456789abcdef", keys=None, batch=False):
        self.run_id = run_id
        self.batch = batch
        self.batches = []
        self.direct = set()
        hosts = [("127.0.0.1", p) for p in redis_ports]
        kw = {"symmetric_encryption_keys": keys} if keys else {}
        self.layer = RedisChannelLayer(hosts=hosts, **kw)
        self.host_layers = [RedisChannelLayer(hosts=[h], **kw) for h in hosts]
        for layer in self.host_layers:
            layer.client_prefix = run_id  # its inbox is specific.<run id>!
        self.queues = {}
        self._next_conn = 0
        self._readers = [asyncio.ensure_future(self._read(l)) for l in self.host_layers]

    def socket(self):
        self._next_conn += 1
        return f"specific.{self.run_id}!{self._next_conn:x}"

    @property
    def ctl(self):
        return f"specific.{self.run_id}!ctl"

    def queue(self, channel):
        return self.queues.setdefault(channel, asyncio.Queue())

    async def _read(self, layer):
        while True:
            channel, message = await layer.receive_single(f"specific.{self.run_id}!")
            if self.batch and channel == self.ctl and message.get("type") == "switchboard.batch":
                self.batches.append(len(message["messages"]))
                for m in message["messages"]:
                    self.queue(m.pop("socket")).put_nowait(m)
                continue
            if channel != self.ctl:
                self.direct.add(channel)
            self.queue(channel).put_nowait(message)

    async def next(self, channel, timeout=15.0):
        return await asyncio.wait_for(self.queue(channel).get(), timeout)

    async def none_within(self, channel, seconds):
        try:
            m = await asyncio.wait_for(self.queue(channel).get(), seconds)
        except asyncio.TimeoutError:
            return None
        return m

    async def connect(self, route, sock, scope):
        m = {"type": "switchboard.connect", "socket": sock, "scope": scope}
        if self.batch:
            m["batch"] = True
        await self.layer.send(route, m)

    async def to_worker(self, worker, message):
        layer = self.host_layers[shard(non_local(worker), len(self.host_layers))]
        await layer.send(worker, message)

    async def receive(self, worker, sock, text):
        await self.to_worker(worker, {"type": "websocket.receive", "socket": sock, "text": text})

    async def event(self, worker, sock, event):
        await self.to_worker(worker, {"type": "switchboard.event", "socket": sock, "event": event})

    async def batch_to(self, worker, messages):
        await self.to_worker(worker, {"type": "switchboard.batch", "messages": messages})

    async def disconnect(self, worker, sock, code=1000):
        await self.to_worker(worker, {"type": "websocket.disconnect", "socket": sock, "code": code})

    async def alive(self, worker, conns=None):
        m = {"type": "switchboard.alive", "gateway": self.run_id}
        if conns is not None:
            m["sockets"] = conns
        await self.to_worker(worker, m)

    async def pause(self):
        """Stops reading the inbox (as a gateway whose layerds are all
        away): what workers send piles up there."""
        await self._stop_readers()

    def resume(self):
        self._readers = [asyncio.ensure_future(self._read(l)) for l in self.host_layers]

    async def close(self):
        await self._stop_readers()
        for layer in [self.layer, *self.host_layers]:
            try:
                await asyncio.wait_for(layer.close_pools(), 5)
            except (asyncio.TimeoutError, OSError):
                pass

    async def _stop_readers(self):
        # A cancel that lands as redis-py's socket timeout fires can be lost
        # (the reader then pops again): cancel until the readers are done.
        for _ in range(40):
            pending = [t for t in self._readers if not t.done()]
            if not pending:
                break
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=0.5)


def ws_scope(path="/ws/chat/lobby/", kwargs=None, cookie=None, query=b"", subprotocols=()):
    """The SCOPE of a switchboard.connect (docs/protocol.md, Part 3)."""
    headers = [[b"host", b"127.0.0.1:8000"], [b"origin", b"http://127.0.0.1:8000"]]
    if cookie:
        headers.append([b"cookie", cookie.encode()])
    return {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
            "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
            "headers": headers, "client": ["127.0.0.1", 40000], "server": ["127.0.0.1", 8000],
            "subprotocols": list(subprotocols),
            "url_route": {"args": [], "kwargs": kwargs if kwargs is not None else {"room_name": "lobby"}}}

