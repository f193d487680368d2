# dispatcher.py — one worker process' side of a `django:NAME` route.
#
# Under `python manage.py runworker NAME`, Channels' worker makes one
# application instance for the channel NAME; switchboard_django's consumer
# class, called with that `channel` scope, runs a Dispatcher. It makes the
# process channel W (inbox.py), takes `switchboard.connect`s from NAME
# (the worker hands them over through `receive`), and reads W for
# everything about the sockets it took (docs/protocol.md, Part 3). Per
# socket (a Socket, socket_handle.py) it runs one consumer instance,
# wrapped in the class' middleware stack (AuthMiddlewareStack by default),
# fed through a per-socket queue in the gateway's order. It also keeps the
# liveness rules of Part 3: a heartbeat to each gateway with sockets here
# every second, a gateway silent for 15 s ends its sockets, and a
# `switchboard.alive` list that no longer names a socket held for over
# 10 s ends that socket.
#
# Everything a gateway (or anybody writing to W or NAME) sends is checked;
# what is wrong is counted (switchboard_django.stats) and logged through
# warn_limited, and never ends the dispatcher.
import asyncio
import collections
import time

import msgpack
import redis.exceptions
from channels.exceptions import ChannelFull
from django.conf import settings

from . import inbox
from .render import check_renders
from .scope import BadMessage, build_scope, control_channel, parse_socket
from .socket_handle import Socket
from .stats import logger, stats, warn_limited

HEARTBEAT_INTERVAL = 1.0  # worker_alive to each gateway with sockets here
GATEWAY_TIMEOUT = 15.0    # a gateway silent this long is gone
ALIVE_GRACE = 10.0        # a socket this young may be missing from an alive list
SEND_PATIENCE = 2.0       # how long a send to a full gateway inbox is retried
MAX_ALIVE_LIST = 50000
ENDED_MEMORY = 30.0       # how long a socket whose consumer ended first is remembered
ENDED_MAX = 10000         # and how many
CLAIM_TTL = 60            # seconds a claim outlives the layer's expiry (every copy of its connect)
CLAIM_PATIENCE = 2.0      # seconds one host may take to answer a claim
# What an unreachable or too slow Redis raises through channels_redis.
REDIS_DOWN = (ConnectionError, OSError, asyncio.TimeoutError, redis.exceptions.ConnectionError,
              redis.exceptions.TimeoutError)
# switchboard.batch (docs/protocol.md, Part 3, Batches): at most this many
# messages, and about this many bytes and msgpack items, in one batch; an
# outbox holds at most OUTBOX_MAX messages per gateway (past it a send
# waits for the flush: backpressure, not loss).
MAX_BATCH = 1000
MAX_BATCH_BYTES = 256 * 1024
MAX_BATCH_ITEMS = 60000
OUTBOX_MAX = 10000


class _Outbox:
    """The worker's messages for the sockets of one gateway, waiting for
    the flush in flight (at most one per gateway)."""
    __slots__ = ("queue", "flushing", "room")

    def __init__(self):
        self.queue = collections.deque()
        self.flushing = False
        self.room = None  # a future the senders wait on while the outbox is full

    def wake(self):
        if self.room is not None and not self.room.done() and len(self.queue) < OUTBOX_MAX:
            self.room.set_result(None)


def _estimate(message, render_size):
    """(bytes, msgpack items) a message adds to a batch, at least what it
    packs to (an item is at least one byte)."""
    kind = message["type"]
    if kind == "switchboard.group_send":
        n = 200 + len(msgpack.packb(message["message"], use_bin_type=True))
        return n, n
    if kind == "websocket.accept":
        n = 200 + render_size
        return n, n
    text, data = message.get("text"), message.get("bytes")
    n = 200
    if text is not None:
        n += len(text) if text.isascii() else 4 * len(text)
    elif data is not None:
        n += len(data)
    return n, 12


class _Gateway:
    __slots__ = ("last_seen", "sockets")

    def __init__(self):
        self.last_seen = time.monotonic()
        self.sockets = set()  # S of the sockets it still holds here


def _middleware(consumer_class):
    for klass in consumer_class.__mro__:
        if "switchboard_middleware" in vars(klass):
            value = vars(klass)["switchboard_middleware"]
            return value.__func__ if isinstance(value, staticmethod) else value
    return None


class Dispatcher:
    def __init__(self, consumer_class, initkwargs, route, layer):
        self.consumer_class = consumer_class
        self.route = route
        self.layer = layer
        self.render = check_renders(consumer_class)
        self.render_size = len(msgpack.packb(self.render, use_bin_type=True))
        self.max_sockets = int(getattr(consumer_class, "switchboard_max_sockets", 10000))
        self.max_queue = int(getattr(consumer_class, "switchboard_max_queue", 1000))
        self.stats_interval = float(getattr(settings, "SWITCHBOARD_STATS_INTERVAL", 60))
        # With several Redis hosts layerd writes each connect on every host
        # (docs/protocol.md, Part 3, Several Redis hosts); a copy lives at
        # most the layer's expiry, so the claim that drops it lives longer.
        self.hosts = int(getattr(layer, "ring_size", 1) or 1)
        self.claim_ttl = int(getattr(layer, "expiry", 60)) + CLAIM_TTL
        self.worker = None
        self.inbox = inbox.WorkerInbox(layer)
        self.sockets = {}   # S -> Socket, until its consumer ends
        self.gateways = {}  # gateway run id -> _Gateway, while it holds sockets here
        # S -> when its consumer ended before the gateway's disconnect came (a
        # close from the worker): what the gateway still sends is expected
        self.ended_here = collections.OrderedDict()
        # S -> when the gateway's disconnect ended it here: a group event the
        # group's layerd wrote before it heard the socket leave may still come
        # (docs/protocol.md, Part 3, Events from the group's owner), and is
        # counted, not warned about
        self.disconnected = collections.OrderedDict()
        self.outboxes = {}  # gateway run id -> _Outbox, while it has messages or a flush
        self._background = set()

        async def consumer_app(scope, receive, send):
            consumer = consumer_class(**initkwargs)
            return await consumer(scope, receive, send)

        middleware = _middleware(consumer_class)
        self.app = middleware(consumer_app) if middleware is not None else consumer_app

    # ---------------------------------------------------------------- loops

    async def run(self, receive):
        self.worker = await self.inbox.open()
        logger.info("worker for %s (%s.%s) reads %s; gateway renders %s", self.route,
                    self.consumer_class.__module__, self.consumer_class.__qualname__,
                    self.worker, sorted(self.render) or "nothing")
        await asyncio.gather(self._read_route(receive), self._read_worker(), self._tick())

    async def _read_route(self, receive):
        while True:
            message = await receive()
            try:
                await self.on_connect(message)
            except Exception:
                stats.drop("internal_error")
                logger.exception("switchboard.connect on %s failed", self.route)

    async def _read_worker(self):
        while True:
            try:
                message = await self.inbox.receive()
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN as e:
                stats.add("receive_errors")
                warn_limited("receive_failed", "receive on %s failed (%s); retrying in 1 s", self.worker, e)
                await asyncio.sleep(1)
                continue
            except Exception as e:  # a message channels_redis could not decode
                stats.drop("undecodable")
                warn_limited("undecodable", "undecodable message on %s dropped: %r", self.worker, e)
                continue
            try:
                self.on_worker_message(message)
            except Exception:
                stats.drop("internal_error")
                logger.exception("message on %s failed", self.worker)

    async def _tick(self):
        last_stats = time.monotonic()
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                last_stats = await self._tick_once(last_stats)
            except Exception:
                stats.drop("internal_error")
                logger.exception("heartbeat round of %s failed", self.route)

    async def _tick_once(self, last_stats):
        """Heartbeats, silent gateways, and the stats line; returns when the
        stats line was last written."""
        now = time.monotonic()
        beats = []
        for gateway, entry in list(self.gateways.items()):
            if now - entry.last_seen > GATEWAY_TIMEOUT:
                n = len(entry.sockets)
                stats.add("gateway_timeouts")
                stats.add("sockets_ended_gateway_silent", n)
                logger.warning("gateway %s silent for %.0f s: ending its %d sockets here (1006)",
                               gateway, GATEWAY_TIMEOUT, n)
                for name in list(entry.sockets):
                    self.sockets[name].end(1006)
                continue
            beats.append(self.send_to(control_channel(gateway),
                                      {"type": "switchboard.worker_alive", "worker": self.worker},
                                      "heartbeat"))
        if beats:
            await asyncio.gather(*beats)
            stats.add("heartbeats", len(beats))
        if now - last_stats >= self.stats_interval:
            last_stats = now
            logger.info("stats %s route=%s sockets=%d gateways=%d", stats.line(), self.route,
                        len(self.sockets), len(self.gateways))
        return last_stats

    # ---------------------------------------------------------------- sending

    async def send_to(self, channel, message, what):
        """channel_layer.send (in one Redis round trip, inbox.py), retried
        for SEND_PATIENCE while the inbox is full; a failure is counted and logged, not raised (for a socket the
        gateway sees the seq gap and closes it, docs/protocol.md, Part 3)."""
        delay, deadline = 0.02, time.monotonic() + SEND_PATIENCE
        while True:
            try:
                await inbox.send(self.layer, channel, message)
                return True
            except ChannelFull:
                if time.monotonic() + delay > deadline:
                    stats.drop(what + "_inbox_full")
                    warn_limited("full_" + what, "%s to %s dropped: the gateway's inbox stayed full "
                                 "for %.0f s (raise its channels_redis capacity)", what, channel,
                                 SEND_PATIENCE)
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except REDIS_DOWN as e:
                stats.drop(what + "_send_failed")
                warn_limited("failed_" + what, "%s to %s failed: %s", what, channel, e)
                return False

    async def emit(self, sock, message):
        """A worker -> gateway message for sock: with W and its next seq,
        into its gateway's outbox (a gateway that takes batches), else sent
        alone to S. Returns once it is in the outbox; while the outbox is
        full, waits for the flush."""
        if not sock.batch:
            message["worker"] = self.worker
            message["seq"] = sock.next_seq()
            await self.send_to(sock.name, message, "socket")
            return
        box = self.outboxes.get(sock.gateway)
        if box is None:
            box = self.outboxes[sock.gateway] = _Outbox()
        while len(box.queue) >= OUTBOX_MAX:
            stats.add("outbox_full_waits")
            if box.room is None or box.room.done():
                box.room = asyncio.get_running_loop().create_future()
            await asyncio.shield(box.room)
        # no await from here on: seqs enter the outbox in order
        message["socket"] = sock.name
        message["worker"] = self.worker
        message["seq"] = sock.next_seq()
        box.queue.append(message)
        if not box.flushing:
            box.flushing = True
            self._later(self._flush(sock.gateway, box))

    async def _flush(self, gateway, box):
        """Sends the outbox as switchboard.batch messages to the gateway's
        control channel, one at a time, until it is empty; what a send
        collects meanwhile goes in the next batch (docs/protocol.md, Part 3,
        Batches)."""
        try:
            while box.queue:
                batch, size, items = [], 0, 0
                while box.queue and len(batch) < MAX_BATCH:
                    b, i = _estimate(box.queue[0], self.render_size)
                    if batch and (size + b > MAX_BATCH_BYTES or items + i > MAX_BATCH_ITEMS):
                        break
                    batch.append(box.queue.popleft())
                    size, items = size + b, items + i
                box.wake()
                if len(batch) == 1 and (size > MAX_BATCH_BYTES or items > MAX_BATCH_ITEMS):
                    # too big to share a batch: alone, to S, as before batches
                    message = batch[0]
                    await self.send_to(message.pop("socket"), message, "socket")
                    continue
                stats.add("batches")
                stats.add("batched", len(batch))
                await self.send_to(control_channel(gateway), {"type": "switchboard.batch",
                                   "worker": self.worker, "messages": batch}, "batch")
        finally:
            box.flushing = False
            box.wake()
            if not box.queue and self.outboxes.get(gateway) is box:
                del self.outboxes[gateway]

    def _later(self, coro):
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- connects

    async def on_connect(self, message):
        if not isinstance(message, dict) or message.get("type") != "switchboard.connect":
            stats.drop("malformed")
            warn_limited("malformed_route", "message on %s that is not a switchboard.connect dropped",
                         self.route)
            return
        try:
            gateway, conn = parse_socket(message.get("socket"))
        except BadMessage as e:
            stats.drop("malformed")
            warn_limited("malformed_connect", "switchboard.connect on %s dropped: %s", self.route, e)
            return
        name = message["socket"]
        if name in self.sockets:
            self._duplicate_connect(name, "second switchboard.connect for %s dropped")
            return
        claimed = await self._claim(name)
        if claimed is None:
            return
        if not claimed:
            self._duplicate_connect(name, "switchboard.connect for %s dropped: another worker process "
                                    "took it (channels_redis delivered it twice)")
            return
        stats.add("connects")
        sock = Socket(self, name, gateway, conn, batch=message.get("batch") is True)
        try:
            scope = build_scope(message.get("scope"), sock)
        except BadMessage as e:
            stats.drop("malformed")
            warn_limited("malformed_scope", "switchboard.connect for %s refused: %s", name, e)
            await sock.close_here(1000)  # before the accept: the gateway answers 403
            return
        if len(self.sockets) >= self.max_sockets:
            stats.drop("too_many_sockets")
            warn_limited("too_many_sockets", "switchboard.connect for %s refused: this process "
                         "holds %d sockets (switchboard_max_sockets)", name, len(self.sockets))
            await sock.close_here(1000)
            return
        self.sockets[name] = sock
        entry = self.gateways.get(gateway)
        if entry is None:
            entry = self.gateways[gateway] = _Gateway()
        entry.last_seen = time.monotonic()
        entry.sockets.add(name)
        sock.deliver({"type": "websocket.connect"})
        sock.task = asyncio.ensure_future(self._run_socket(sock, scope))

    def _duplicate_connect(self, name, text):
        if self.hosts > 1:
            # layerd wrote the connect on every host: the copies are expected
            stats.add("connect_copies")
            return
        stats.drop("duplicate_connect")
        warn_limited("duplicate_connect", text, name)

    async def _claim(self, name):
        """True when this process may take the socket, False when another
        took it, None when Redis could not be asked (counted and logged).
        channels_redis can hand one message of a channel several processes
        read to two of them (its receive puts a popped message back while
        another process still works on it), and with several hosts layerd
        writes each connect on every host; a consumer's connect() must run
        once per socket: the first process to SET NX the socket's claim key
        takes it. The key lives on one host every process picks alike: the
        socket's channels_redis host, or while that host is down the next
        one in the list (docs/django.md, Several Redis hosts). Without Redis
        behind the layer (one process) there is nothing to claim."""
        if not hasattr(self.layer, "connection") or not hasattr(self.layer, "consistent_hash"):
            return True
        key = f"{self.layer.prefix}:switchboard:connect:{name}"
        first = self.layer.consistent_hash(name)
        error = None
        for i in range(self.hosts):
            try:
                redis = self.layer.connection((first + i) % self.hosts)
                return bool(await asyncio.wait_for(
                    redis.set(key, self.worker, nx=True, ex=self.claim_ttl), CLAIM_PATIENCE))
            except REDIS_DOWN as e:
                error = e
        # Nobody can know who took it: leave it; the gateway answers 503.
        stats.drop("claim_failed")
        warn_limited("claim_failed", "switchboard.connect for %s dropped: claiming it in Redis "
                     "failed (%s)", name, error)
        return None

    async def _run_socket(self, sock, scope):
        try:
            await self.app(scope, sock.receive, sock.send)
        except asyncio.CancelledError:
            pass
        except Exception:
            stats.add("consumer_errors")
            logger.exception("consumer %s raised for socket %s; closing it with 1011",
                             self.consumer_class.__qualname__, sock.name)
            await sock.close_here(1011)
        else:
            # The consumer returned while the gateway still holds the socket.
            await sock.close_here(1000)
        finally:
            if self.sockets.get(sock.name) is sock:
                del self.sockets[sock.name]
            self.detach(sock)
            self._remember(self.disconnected if sock.ended else self.ended_here, sock.name)

    @staticmethod
    def _remember(memory, name):
        now = time.monotonic()
        while memory and (len(memory) >= ENDED_MAX or now - next(iter(memory.values())) > ENDED_MEMORY):
            memory.popitem(last=False)
        memory[name] = now

    def detach(self, sock):
        entry = self.gateways.get(sock.gateway)
        if entry is not None:
            entry.sockets.discard(sock.name)
            if not entry.sockets:
                del self.gateways[sock.gateway]

    # ---------------------------------------------------------------- W

    def on_worker_message(self, message):
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "switchboard.alive":
            self.on_alive(message)
            return
        if kind == "switchboard.batch":
            self.on_batch(message)
            return
        self.on_socket_message(kind, message)

    def on_batch(self, message):
        entries = message.get("messages")
        if not isinstance(entries, list) or len(entries) > MAX_BATCH:
            stats.drop("bad_batch")
            warn_limited("bad_batch", "switchboard.batch on %s without a list of at most %d messages "
                         "dropped", self.worker, MAX_BATCH)
            return
        stats.add("batches_in")
        for entry in entries:
            kind = entry.get("type") if isinstance(entry, dict) else None
            if kind in ("switchboard.batch", "switchboard.alive"):
                kind = None  # not inside a batch
            try:
                self.on_socket_message(kind, entry)
            except Exception:  # one entry's failure is its own
                stats.drop("internal_error")
                logger.exception("batch entry on %s failed", self.worker)

    def on_socket_message(self, kind, message):
        if kind not in ("websocket.receive", "websocket.disconnect", "switchboard.event"):
            stats.drop("malformed")
            warn_limited("malformed_kind", "message of type %.100r on %s dropped", kind, self.worker)
            return
        if kind == "switchboard.event" and "sockets" in message:
            names = message["sockets"]
            if not isinstance(names, list) or len(names) > MAX_BATCH:
                stats.drop("malformed")
                warn_limited("malformed_event", "switchboard.event on %s without a list of at most "
                             "%d sockets dropped", self.worker, MAX_BATCH)
                return
            for name in names:
                self.on_socket_message_for(kind, name, message)
            return
        self.on_socket_message_for(kind, message.get("socket"), message)

    def on_socket_message_for(self, kind, name, message):
        sock = self.sockets.get(name) if isinstance(name, str) else None
        if sock is None and isinstance(name, str) and name in self.ended_here:
            # the gateway's disconnect (or a frame in flight) after the consumer ended
            stats.add("after_consumer_end")
            if kind == "websocket.disconnect":
                del self.ended_here[name]
            return
        if sock is None and kind == "switchboard.event" and isinstance(name, str) and name in self.disconnected:
            stats.add("event_after_disconnect")
            return
        if sock is None:
            stats.drop("unknown_socket")
            warn_limited("unknown_socket", "%s for a socket this worker does not hold dropped", kind)
            return
        entry = self.gateways.get(sock.gateway)
        if entry is not None:
            entry.last_seen = time.monotonic()
        if sock.ended:
            stats.drop("after_disconnect")
            return
        if kind == "websocket.disconnect":
            code = message.get("code", 1006)
            if not isinstance(code, int) or isinstance(code, bool):
                stats.drop("malformed")
                warn_limited("malformed_disconnect", "websocket.disconnect for %s without an int "
                             "code; taken as 1006", name)
                code = 1006
            stats.add("disconnects")
            sock.end(code)
            return
        if kind == "websocket.receive":
            text, data = message.get("text"), message.get("bytes")
            if isinstance(text, str):
                event = {"type": "websocket.receive", "text": text}
            elif isinstance(data, bytes):
                event = {"type": "websocket.receive", "bytes": data}
            else:
                stats.drop("malformed")
                warn_limited("malformed_receive", "websocket.receive for %s without text or bytes "
                             "dropped", name)
                return
            counter = "receives"
        else:
            event = message.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                stats.drop("malformed")
                warn_limited("malformed_event", "switchboard.event for %s without an event map "
                             "with a type dropped", name)
                return
            counter = "events"
        if sock.overflowed:
            stats.drop("queue_full")
            return
        if sock.queued() >= self.max_queue:
            sock.overflowed = True
            stats.drop("queue_full")
            warn_limited("queue_full", "consumer for %s has %d messages waiting; closing the "
                         "socket with 1013", name, self.max_queue)
            self._later(sock.close_here(1013))
            return
        stats.add(counter)
        sock.deliver(event)

    def on_alive(self, message):
        gateway = message.get("gateway")
        entry = self.gateways.get(gateway) if isinstance(gateway, str) else None
        if entry is None:
            stats.add("alive_without_sockets")
            return
        now = time.monotonic()
        entry.last_seen = now
        listed = message.get("sockets")
        if listed is None:
            return
        if not isinstance(listed, list) or len(listed) > MAX_ALIVE_LIST:
            stats.drop("malformed")
            warn_limited("malformed_alive", "switchboard.alive from %s with a bad socket list ignored",
                         gateway)
            return
        conns = {c for c in listed if isinstance(c, str)}
        for name in list(entry.sockets):
            sock = self.sockets[name]
            if sock.conn not in conns and now - sock.created > ALIVE_GRACE:
                stats.add("sockets_ended_not_listed")
                warn_limited("not_listed", "gateway %s no longer lists %s; ending it (1006)",
                             gateway, name)
                sock.end(1006)
