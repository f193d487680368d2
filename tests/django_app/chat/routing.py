# routing.py — the tutorial's WebSocket route (the seed's routing.py without its
# second, notification example, which the chat does not use).
from django.urls import re_path

from . import consumers, sb_consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
    # the same consumer with switchboard_django's import: under daphne it is Channels'
    re_path(r"ws/sbchat/(?P<room_name>\w+)/$", sb_consumers.ChatConsumer.as_asgi()),
]
