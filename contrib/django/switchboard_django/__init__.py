# switchboard_django — a Django app's own Channels consumers, run for
# Switchboard sockets by `python manage.py runworker NAME`
# (docs/django.md, Keep your consumers; the wire: docs/protocol.md, Part 3).
from .consumer import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer, SwitchboardConsumerMixin
from .stats import stats
from .tokens import token_for

__all__ = ["AsyncWebsocketConsumer", "AsyncJsonWebsocketConsumer", "SwitchboardConsumerMixin", "stats", "token_for"]
