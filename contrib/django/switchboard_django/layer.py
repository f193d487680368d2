# layer.py — a socket consumer's `self.channel_layer`.
#
# A thin proxy over the app's real channel layer: group_add / group_discard
# of the socket's own channel S, and group_send while the gateway holds the
# socket, become `switchboard.group_*` messages to S (docs/protocol.md,
# Part 3, Worker -> gateway), so the gateway keeps the membership and a
# group_send to a big room costs layerd O(gateways). Everything else (other
# channels, send, receive, new_channel, flush, a group_send after the
# socket ended) goes to the real layer unchanged.


class SocketLayer:
    def __init__(self, real, socket):
        self._real = real
        self._socket = socket

    def __getattr__(self, name):
        # extensions, send, receive, new_channel, flush, capacity, ...
        return getattr(self._real, name)

    async def group_add(self, group, channel):
        if channel != self._socket.name:
            return await self._real.group_add(group, channel)
        self._real.valid_group_name(group)  # raises TypeError, as channels_redis does
        if self._socket.ended:
            # The gateway no longer holds S: it left every group when it
            # closed, and a member written now would only go stale in Redis.
            self._socket.dropped("group_op_after_end")
            return
        await self._socket.emit({"type": "switchboard.group_add", "group": group})

    async def group_discard(self, group, channel):
        if channel != self._socket.name:
            return await self._real.group_discard(group, channel)
        self._real.valid_group_name(group)  # raises TypeError, as channels_redis does
        if self._socket.ended:
            return  # already out of every group (the gateway removed it)
        await self._socket.emit({"type": "switchboard.group_discard", "group": group})

    async def group_send(self, group, message):
        if self._socket.ended:
            return await self._real.group_send(group, message)
        self._real.valid_group_name(group)  # raises TypeError, as channels_redis does
        if not isinstance(message, dict):
            raise TypeError("group_send message must be a dict")
        await self._socket.emit({"type": "switchboard.group_send", "group": group, "message": message})
