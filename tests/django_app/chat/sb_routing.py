# sb_routing.py — the worker channels `manage.py runworker` serves for
# Switchboard routes (`--route '/ws/chat/<room_name>/ django:chat'`):
# ChannelNameRouter's mapping, as the app's asgi.py registers it.
from . import sb_consumers

channel_routes = {
    "chat": sb_consumers.ChatConsumer.as_asgi(),
    "chatfast": sb_consumers.FastChatConsumer.as_asgi(),
    "authchat": sb_consumers.AuthChatConsumer.as_asgi(),
    "state": sb_consumers.StateConsumer.as_asgi(),
    "boom": sb_consumers.RaisingConsumer.as_asgi(),
    "slow": sb_consumers.SlowConsumer.as_asgi(),
    "flood": sb_consumers.FloodConsumer.as_asgi(),
}
