# asgi.py — the Django Channels tutorial's ASGI application, wrapped as the
# tutorial deploys it: "http" to Django, "websocket" through
# AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))).
# Permissive here: ALLOWED_HOSTS = ["*"], and with no session cookie the
# user is AnonymousUser without touching a database. The same app is the
# seed peer bench/compare measures (bench/peers/run_seed.sh); there
# SB_PEER_MIDDLEWARE=none routes WebSockets straight to the URLRouter.
# "channel" is what `manage.py runworker chat ...` serves: the app's own
# consumers for Switchboard routes (chat/sb_routing.py).
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django (apps, settings) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

import chat.routing  # noqa: E402
import chat.sb_routing  # noqa: E402

websocket_app = URLRouter(chat.routing.websocket_urlpatterns)
if os.environ.get("SB_PEER_MIDDLEWARE", "seed") != "none":
    websocket_app = AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_app))

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": websocket_app,
    "channel": ChannelNameRouter(chat.sb_routing.channel_routes),
})
