# inbox.py — the worker's own writes to the gateways' inboxes and reads of
# its process channel W, in channels_redis' format and layout.
#
# Why: stock channels_redis 4.0 spends Redis round trips one after the other
# on every message. Its send() is four (ZREMRANGEBYSCORE, ZCOUNT, ZADD,
# EXPIRE; the gateway sees the message at the third), and its receive() of
# a process-local channel is a cleanup EVAL and a BZPOPMIN, then a ZADD of
# the message into a `$inflight` backup before receive() returns it, then
# a ZPOPMIN of the backup that the next receive() waits for. Every browser
# message on a consumer route crosses both, and these round trips were most
# of its light-load round trip (bench/RESULTS.md, "Keep your consumers",
# "Where a round trip's milliseconds go"). So the worker:
#
# - writes with ONE EVAL that does what send() does (purge what expired,
#   refuse at capacity with ChannelFull, ZADD with the time as score, EXPIRE;
#   the member made by the layer's own serialize(), so encryption and the
#   12-byte prefix are channels_redis'), the same writes channels_redis'
#   group_send makes per inbox in one EVAL, and layerd for every message;
# - reads W with one BZPOPMIN and one ZPOPMIN sent together (one write, one
#   round trip): the first waits for a message, the second takes up to
#   READ_BATCH - 1 more that wait behind it; each is decoded with the
#   layer's deserialize(). W's process part is the dispatcher's own (not the
#   layer's client prefix), so no channels_redis receive() in the process
#   shares its inbox key. There is no `$inflight` backup: it guards a
#   receive() cancelled between the pop and the return, and W's reader is
#   only cancelled when the process ends, when its sockets end with it (the
#   gateway closes them with 1012, docs/protocol.md, Part 3, Liveness).
#
# The host is the one channels_redis uses (send: the hash of the full channel
# name; W's inbox: the hash of its non-local name, where layerd writes it).
# A layer that is not channels_redis' RedisChannelLayer (no serialize or
# connection) gets its own send() and receive(), unchanged. Everything else a
# consumer does goes through the app's layer as before (layer.py).
#
# Threading: the worker's event loop only.
import asyncio
import collections
import time
import uuid

# channels_redis' send() in one script: KEYS[1] the inbox, ARGV: member,
# score, purge-before score, capacity, expiry. 1 = at capacity.
SEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then
    return 1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 0
"""
READ_BATCH = 100      # messages one read (BZPOPMIN + ZPOPMIN) may take from W's inbox
BLOCK_SECONDS = 5     # a BZPOPMIN's timeout (then it is asked again), as channels_redis'


def is_redis_layer(layer):
    """Whether the worker may read and write this layer's Redis itself."""
    return all(hasattr(layer, a) for a in ("serialize", "deserialize", "connection", "consistent_hash",
                                           "prefix", "expiry", "get_capacity", "non_local_name"))


async def send(layer, channel, message):
    """layer.send(channel, message) for a process-local channel, in one round
    trip; raises what send() raises (ChannelFull, Redis errors)."""
    if "!" not in channel or not is_redis_layer(layer):
        return await layer.send(channel, message)
    from channels.exceptions import ChannelFull
    member = layer.serialize({**message, "__asgi_channel__": channel})
    now = time.time()
    full = await layer.connection(layer.consistent_hash(channel)).eval(
        SEND_SCRIPT, 1, layer.prefix + layer.non_local_name(channel), member, now,
        int(now) - int(layer.expiry), layer.get_capacity(channel), int(layer.expiry))
    if full:
        raise ChannelFull()


class WorkerInbox:
    """The process channel W of one route's dispatcher and its reader."""

    def __init__(self, layer):
        self.layer = layer
        self.own = is_redis_layer(layer)
        self.channel = None
        self._waiting = collections.deque()  # popped members not yet decoded

    async def open(self):
        """Makes W: when the worker reads it itself, a name shaped like
        new_channel()'s, `specific.<32 hex>!<32 hex>`, but whose process part
        is a uuid of its own rather than the layer's client prefix; else the
        layer's new_channel()."""
        if self.own:
            self.channel = f"specific.{uuid.uuid4().hex}!{uuid.uuid4().hex}"
            self._key = self.layer.prefix + self.layer.non_local_name(self.channel)
        else:
            self.channel = await self.layer.new_channel()
        return self.channel

    async def receive(self):
        """The next message on W. Raises Redis errors, and what deserialize()
        raises for a member it cannot decode (that member is gone, the next
        call goes on with the rest)."""
        if not self.own:
            return await self.layer.receive(self.channel)
        while not self._waiting:
            # Let what the last messages woke run first: their consumers, then
            # the outbox flush those start (dispatcher.py), so a reply's write
            # leaves before this read is sent, and not behind it.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            redis = self.layer.connection(self.layer.consistent_hash(self.layer.non_local_name(self.channel)))
            # One write, one round trip: BZPOPMIN waits for the first message
            # (Redis keeps the ZPOPMIN queued behind it until it is served),
            # then ZPOPMIN takes what else waits, in score order.
            async with redis.pipeline(transaction=False) as pipe:
                pipe.bzpopmin(self._key, timeout=BLOCK_SECONDS)
                pipe.zpopmin(self._key, READ_BATCH - 1)
                first, more = await pipe.execute()
            if first is not None:
                self._waiting.append(first[1])
            self._waiting.extend(member for member, _score in more)
        message = self.layer.deserialize(self._waiting.popleft())
        if isinstance(message, dict):
            message.pop("__asgi_channel__", None)
        return message
