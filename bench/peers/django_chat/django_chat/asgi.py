# asgi.py — the seed peer's ASGI application, as in the seed's deployment.
#
# ProtocolTypeRouter: "http" to Django, "websocket" to the chat's URLRouter.
# By default the WebSocket side is wrapped exactly as the seed wrapped it,
# AllowedHostsOriginValidator(AuthMiddlewareStack(...)), which is permissive
# here (ALLOWED_HOSTS = ["*"], no session cookie -> AnonymousUser) but keeps
# the seed's per-connection cost (cookie parsing, a thread-pool hop to
# resolve the user). SB_PEER_MIDDLEWARE=none routes straight to URLRouter.
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_chat.settings")
# Set up Django (apps, settings) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

import chat.routing  # noqa: E402

websocket_app = URLRouter(chat.routing.websocket_urlpatterns)
if os.environ.get("SB_PEER_MIDDLEWARE", "seed") != "none":
    websocket_app = AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_app))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_app,
    }
)
