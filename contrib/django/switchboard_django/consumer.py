# consumer.py — the consumer classes a Django app imports instead of
# Channels' own.
#
# One class, three roles, chosen by the scope it is called with:
# - `channel` (ChannelNameRouter under `runworker NAME`): the dispatcher of
#   the route NAME in this process (dispatcher.py);
# - `websocket` with scope["switchboard"] (made by the dispatcher): the
#   consumer instance of one Switchboard socket: channel_name is the
#   socket's channel S, channel_layer the SocketLayer proxy (layer.py),
#   messages come from the dispatcher's per-socket queue;
# - any other `websocket` scope (daphne, runserver): Channels' behaviour,
#   unchanged.
import functools

from channels.auth import AuthMiddlewareStack
from channels.exceptions import StopConsumer
from channels.generic import websocket as channels_websocket
from channels.layers import get_channel_layer

from .dispatcher import Dispatcher
from .socket_handle import Socket
from .render import check_renders


class SwitchboardConsumerMixin:
    #: {handler name: [field, ...]}: events the gateway renders itself
    #: (docs/django.md, Keep your consumers).
    gateway_renders = None
    #: Wraps each Switchboard socket's consumer, as asgi.py wraps the
    #: websocket router under daphne; None for none.
    switchboard_middleware = staticmethod(AuthMiddlewareStack)
    #: Sockets one process takes for this route; more connects are refused.
    switchboard_max_sockets = 10000
    #: Messages waiting for one socket's consumer; past it the socket is
    #: closed with 1013.
    switchboard_max_queue = 1000

    @classmethod
    def as_asgi(cls, **initkwargs):
        check_renders(cls)  # a bad gateway_renders fails here, at startup

        async def app(scope, receive, send):
            consumer = cls(**initkwargs)
            consumer._switchboard_initkwargs = initkwargs
            return await consumer(scope, receive, send)

        app.consumer_class = cls
        app.consumer_initkwargs = initkwargs
        functools.update_wrapper(app, cls, updated=())
        return app

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind == "channel":
            layer = get_channel_layer(self.channel_layer_alias)
            if layer is None:
                raise ValueError("switchboard_django needs a channel layer (CHANNEL_LAYERS)")
            dispatcher = Dispatcher(type(self), getattr(self, "_switchboard_initkwargs", {}),
                                    scope.get("channel"), layer)
            return await dispatcher.run(receive)
        handle = scope.get("switchboard")
        if kind == "websocket" and isinstance(handle, Socket):
            return await self._switchboard_socket(scope, receive, send, handle)
        return await super().__call__(scope, receive, send)

    async def _switchboard_socket(self, scope, receive, send, handle):
        self.scope = scope
        handle.scope_user = scope.get("user")  # its accept names the user (socket_handle.accepted_user)
        self.channel_layer = handle.layer
        self.channel_name = handle.name
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass


class AsyncWebsocketConsumer(SwitchboardConsumerMixin, channels_websocket.AsyncWebsocketConsumer):
    pass


class AsyncJsonWebsocketConsumer(SwitchboardConsumerMixin, channels_websocket.AsyncJsonWebsocketConsumer):
    pass
