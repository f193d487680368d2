# page.py — the WebSocket URL a Django-rendered chat page gives the
# browser: the gateway's base URL (settings.SWITCHBOARD_WS_URL), the chat
# route of the room, and `?token=` minted for the logged-in user for that
# room only, valid settings.SWITCHBOARD_TOKEN_TTL seconds
# (docs/django.md, Identity). Used by templatetags/switchboard.py.
#
# The room rule is the gateway's (docs/protocol.md, Rooms, groups and
# channel names): 1-100 characters, each a Python `\w` character. A room
# that breaks it is refused here with ValueError, never sent to a gateway
# (which would answer 404) nor written into a token (where `*` would be a
# pattern opening other rooms).
import re
import urllib.parse

from .tokens import DEFAULT_TTL, token_for

MAX_ROOM_CHARS = 100
_ROOM_RE = re.compile(r"\w+")
_BASE_RE = re.compile(r"wss?://[^/?#\s]+")
PAGE_TTL = 300


def check_room(room_name):
    """room_name if it is a room the gateway's chat route takes, else ValueError."""
    if not isinstance(room_name, str):
        raise ValueError(f"switchboard: a room name must be a string, not {type(room_name).__name__}")
    if not 1 <= len(room_name) <= MAX_ROOM_CHARS or not _ROOM_RE.fullmatch(room_name):
        raise ValueError(f"switchboard: {room_name[:120]!r} is not a valid room name "
                         f"(1-{MAX_ROOM_CHARS} letters, digits or _)")
    return room_name


def _settings():
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    base = getattr(settings, "SWITCHBOARD_WS_URL", "") or ""
    if base and not _BASE_RE.fullmatch(base.rstrip("/")):
        raise ImproperlyConfigured("SWITCHBOARD_WS_URL must be ws://host[:port] or wss://host[:port] "
                                   "(empty: the page's own origin)")
    ttl = getattr(settings, "SWITCHBOARD_TOKEN_TTL", PAGE_TTL)
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not 0 < ttl <= DEFAULT_TTL * 24:
        raise ImproperlyConfigured("SWITCHBOARD_TOKEN_TTL must be a positive number of seconds, at most a day")
    return base.rstrip("/"), ttl


def token_for_page(user, room_name):
    """The token for `user` that opens `room_name` only."""
    check_room(room_name)
    _, ttl = _settings()
    return token_for(user, rooms=[room_name], ttl=ttl)


def ws_url_for_page(user, room_name):
    """SWITCHBOARD_WS_URL/ws/chat/<room, percent-encoded>/?token=<token>;
    a path alone when SWITCHBOARD_WS_URL is empty (same origin, e.g. nginx)."""
    token = token_for_page(user, room_name)
    base, _ = _settings()
    room = urllib.parse.quote(room_name, safe="")
    return f"{base}/ws/chat/{room}/?token={token}"
