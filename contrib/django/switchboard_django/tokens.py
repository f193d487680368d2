# tokens.py — signed tokens for Switchboard's gateway, minted by Django.
#
# A Django view that renders a chat page puts token_for(request.user)
# into it; the page passes it as `?token=` on the WebSocket URL, and the
# gateway (started with the same secret as --jwt-secret) checks it and
# stamps the user on every message the socket sends (docs/django.md,
# Identity; the token format: docs/protocol.md, Identity). HS256 with the
# standard library only: the gateway takes nothing else.
import base64
import hashlib
import hmac
import json
import time

# The gateway's bounds (common/limits.hpp): a shorter secret is refused
# at its start-up; longer ids, names or more rooms are refused per token.
MIN_SECRET_BYTES = 32
MAX_ID_BYTES = 128
MAX_NAME_BYTES = 200
MAX_ROOMS = 100
MAX_ROOM_BYTES = 400
DEFAULT_TTL = 3600


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _secret_bytes(secret):
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the Switchboard JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(claims, secret):
    """The HS256 token of `claims` (a dict) under `secret` (str or bytes)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    mac = hmac.new(_secret_bytes(secret), signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(mac)}"


def _clip_utf8(text, limit):
    """text cut to at most `limit` UTF-8 bytes, never inside a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _check_rooms(rooms):
    if isinstance(rooms, (str, bytes)) or not all(isinstance(r, str) for r in rooms):
        raise TypeError("rooms must be a list of room names or patterns (str)")
    rooms = list(rooms)
    if len(rooms) > MAX_ROOMS:
        raise ValueError(f"at most {MAX_ROOMS} rooms")
    for r in rooms:
        if not r or len(r.encode()) > MAX_ROOM_BYTES:
            raise ValueError(f"a room or pattern must be 1-{MAX_ROOM_BYTES} bytes")
    return rooms


def identity_of(user):
    """(id, name) of an authenticated Django user as Switchboard shows it:
    id = str(pk), name = the full name, else the username (cut to the
    gateway's bound). ValueError for an anonymous user or a pk over the bound."""
    if not getattr(user, "is_authenticated", False):
        raise ValueError("an authenticated user is needed")
    uid = str(user.pk)
    if not uid or len(uid.encode()) > MAX_ID_BYTES:
        raise ValueError(f"the user's pk must be 1-{MAX_ID_BYTES} bytes as text")
    full_name = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return uid, _clip_utf8(full_name or user.get_username() or uid, MAX_NAME_BYTES)


def token_for(user, rooms=None, ttl=DEFAULT_TTL, secret=None, now=None):
    """A token naming `user` (sub: its pk, name: its full name, else its
    username), valid `ttl` seconds, for `rooms` (exact names or patterns
    with `*`; None: every room). The secret is settings.SWITCHBOARD_JWT_SECRET
    unless given."""
    sub, name = identity_of(user)
    if secret is None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        secret = getattr(settings, "SWITCHBOARD_JWT_SECRET", None)
        if not secret:
            raise ImproperlyConfigured("set SWITCHBOARD_JWT_SECRET (the gateway's --jwt-secret)")
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    issued = int(time.time() if now is None else now)
    claims = {"sub": sub, "name": name, "iat": issued, "exp": issued + int(ttl)}
    if rooms is not None:
        claims["rooms"] = _check_rooms(rooms)
    return sign(claims, secret)
