# sb_consumers.py — consumers run by `manage.py runworker` for Switchboard
# sockets (chat/sb_routing.py). ChatConsumer is the tutorial's async
# ChatConsumer (chat/consumers.py) with only the import changed; the others
# are what tests/integration/test_switchboard_django.py needs: the fast
# path, the tutorial's anonymous-refusing variant, per-socket state in
# self, and a consumer that raises.
import asyncio
import json

from switchboard_django import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = "chat_%s" % self.room_name

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

        await self.accept()

    async def disconnect(self, close_code):
        # Leave room group
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    # Receive message from WebSocket
    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        message = text_data_json["message"]

        # Send message to room group
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat_message", "message": message}
        )

    # Receive message from room group
    async def chat_message(self, event):
        message = event["message"]

        # Send message to WebSocket
        await self.send(text_data=json.dumps({"message": message}))


class FastChatConsumer(ChatConsumer):
    """The same, with chat_message rendered by the gateway (the fast path)."""

    gateway_renders = {"chat_message": ["message"]}


class AuthChatConsumer(ChatConsumer):
    """The tutorial's variant that refuses a socket without a Django login."""

    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        await super().connect()


class StateConsumer(AsyncWebsocketConsumer):
    """Keeps a per-socket counter in self and reports what its scope says."""

    async def connect(self):
        self.count = 0
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        self.count += 1
        user = self.scope["user"]
        await self.send(text_data=json.dumps({
            "count": self.count,
            "text": text_data,
            "bytes": bytes_data.hex() if bytes_data is not None else None,
            "user": user.get_username() if user.is_authenticated else None,
            "path": self.scope["path"],
            "query": self.scope["query_string"].decode(),
            "kwargs": self.scope["url_route"]["kwargs"],
            "client": list(self.scope["client"]) if self.scope["client"] else None,
            "cookies": sorted(self.scope["cookies"]),
            "channel": self.channel_name,
            "worker": self.scope["switchboard"].worker,
        }))

    async def state_ping(self, event):
        await self.send(text_data=json.dumps({"ping": event.get("n"), "count": self.count}))


class RaisingConsumer(StateConsumer):
    """Raises when a browser sends "boom"."""

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "boom":
            raise RuntimeError("boom, as asked")
        await super().receive(text_data=text_data, bytes_data=bytes_data)


class FloodConsumer(StateConsumer):
    """On "flood N" (N at most 100,000) sends N frames "0".."N-1" in one go:
    more than the worker's outbox holds, so send() must wait."""

    async def receive(self, text_data=None, bytes_data=None):
        if text_data and text_data.startswith("flood "):
            for i in range(min(int(text_data.split()[1]), 100000)):
                await self.send(text_data=str(i))
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)


class SlowConsumer(StateConsumer):
    """Sleeps 3 s on "sleep"; at most 5 messages may wait for it."""

    switchboard_max_queue = 5

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "sleep":
            await asyncio.sleep(3)
        await super().receive(text_data=text_data, bytes_data=bytes_data)
