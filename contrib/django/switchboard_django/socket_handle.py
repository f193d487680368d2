# socket_handle.py — one Switchboard socket a worker process took.
#
# The dispatcher (dispatcher.py) makes one per accepted connect; it is the
# consumer's `scope["switchboard"]` and carries what the socket's consumer
# instance needs: its channel S (`name`), the process channel W
# (`worker`), the SocketLayer proxy (layer.py), the queue its messages
# wait in, and the per-socket `seq` of what it sends the gateway
# (docs/protocol.md, Part 3, Worker -> gateway). Touched only on the
# worker's event loop.
import asyncio
import time

from .layer import SocketLayer
from .stats import stats, warn_limited
from .tokens import identity_of

DISCONNECT_GRACE = 10.0  # a consumer still running this long after its disconnect is cancelled


def accepted_user(user):
    """{"id", "name"} of an authenticated scope["user"] for the accept
    (docs/protocol.md, Part 3: the gateway stamps it on the messages of an
    auth=django route's sockets), or None for an anonymous one."""
    try:
        uid, name = identity_of(user)
    except (ValueError, AttributeError):
        return None
    return {"id": uid, "name": name}


class Socket:
    """One socket this process took: the consumer's `scope["switchboard"]`.

    `name` is S (the consumer's channel_name), `gateway` the gateway's run
    id, `worker` W. `ended` once the gateway no longer holds the socket (a
    disconnect was delivered to the consumer); `closed` once the consumer
    sent websocket.close."""

    def __init__(self, dispatcher, name, gateway, conn, batch=False):
        self.name, self.gateway, self.conn = name, gateway, conn
        self.batch = batch  # the gateway takes switchboard.batch (its connect said so)
        self.worker = dispatcher.worker
        self.layer = SocketLayer(dispatcher.layer, self)
        self.created = time.monotonic()
        self.ended = False
        self.closed = False
        self.overflowed = False
        self.task = None
        self.scope_user = None  # the consumer's scope["user"] (set when its instance starts)
        self._dispatcher = dispatcher
        self._queue = asyncio.Queue()
        self._seq = 0

    def __repr__(self):
        return f"<switchboard socket {self.name}>"

    def dropped(self, reason):
        stats.drop(reason)

    def next_seq(self):
        self._seq += 1
        return self._seq

    async def emit(self, message):
        """A worker -> gateway message about S, with worker W and the next
        seq (the dispatcher's outbox for S's gateway)."""
        await self._dispatcher.emit(self, message)

    async def send(self, message):
        """The ASGI send the consumer's base_send ends in (under its middleware)."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "websocket.accept":
            sub = message.get("subprotocol")
            if sub is not None and not isinstance(sub, str):
                raise ValueError("websocket.accept subprotocol must be a str or None")
            ext = {"render": self._dispatcher.render}
            user = accepted_user(self.scope_user)
            if user is not None:
                ext["user"] = user
            out = {"type": kind, "subprotocol": sub, "switchboard": ext}
        elif kind == "websocket.send":
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                if not isinstance(text, str):
                    raise ValueError("websocket.send text must be a str")
                out = {"type": kind, "text": text}
            elif data is not None:
                if not isinstance(data, (bytes, bytearray)):
                    raise ValueError("websocket.send bytes must be bytes")
                out = {"type": kind, "bytes": bytes(data)}
            else:
                raise ValueError("websocket.send needs text or bytes")
        elif kind == "websocket.close":
            out = {"type": kind}
            code = message.get("code")
            if code is not None:
                if not isinstance(code, int) or isinstance(code, bool):
                    raise ValueError("websocket.close code must be an int")
                out["code"] = code
        else:
            raise ValueError(f"a Switchboard socket cannot send a {kind!r} message")
        if self.ended or self.closed:
            stats.drop("send_after_close")
            return
        if kind == "websocket.close":
            self.closed = True
        await self.emit(out)

    async def close_here(self, code):
        """Close the socket at the gateway from the worker's side."""
        if not self.ended and not self.closed:
            self.closed = True
            await self.emit({"type": "websocket.close", "code": code})

    def deliver(self, message):
        self._queue.put_nowait(message)

    def queued(self):
        return self._queue.qsize()

    async def receive(self):
        return await self._queue.get()

    def end(self, code):
        """The gateway no longer holds the socket: the consumer gets
        websocket.disconnect (after what is queued before it) and has
        DISCONNECT_GRACE seconds to finish."""
        if self.ended:
            return
        self.ended = True
        self._queue.put_nowait({"type": "websocket.disconnect", "code": code})
        self._dispatcher.detach(self)
        asyncio.get_running_loop().call_later(DISCONNECT_GRACE, self._cancel_if_running)

    def _cancel_if_running(self):
        if self.task is not None and not self.task.done():
            stats.add("consumers_cancelled")
            warn_limited("cancelled", "consumer for %s still running %.0f s after its disconnect; "
                         "cancelled", self.name, DISCONNECT_GRACE)
            self.task.cancel()
