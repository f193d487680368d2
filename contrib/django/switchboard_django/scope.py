# scope.py — the names and the websocket scope of a Switchboard socket.
#
# A socket's channel S is `specific.<gateway run id>!<conn>` and its
# gateway's control channel `specific.<gateway run id>!ctl`
# (docs/protocol.md, Part 3, Names). The scope comes from the gateway's
# `switchboard.connect` as the map daphne would build; it is checked field
# by field here (a gateway's message is input like any other) and becomes
# the scope the consumer sees under daphne, plus `scope["switchboard"]`,
# the socket's handle, which marks it as made by the dispatcher.
import re

# A gateway run id is `<name>.<16 hex>` (docs/django.md, Sending to Django
# channels); conn ids are hex. Channels' own limit: names under 100 chars.
SOCKET_RE = re.compile(r"^specific\.([A-Za-z0-9_\-.]+)!([0-9a-f]{1,32})$")
MAX_NAME = 100
MAX_HEADERS = 1000
MAX_SUBPROTOCOLS = 64
MAX_KWARGS = 64


class BadMessage(ValueError):
    """A gateway message that is not what docs/protocol.md, Part 3, says."""


def parse_socket(name):
    """S -> (gateway run id, conn); raises BadMessage."""
    if not isinstance(name, str) or len(name) >= MAX_NAME:
        raise BadMessage("socket is not a socket channel name")
    m = SOCKET_RE.match(name)
    if not m or len(control_channel(m.group(1))) >= MAX_NAME:
        raise BadMessage("socket is not a socket channel name")
    return m.group(1), m.group(2)


def control_channel(gateway):
    return f"specific.{gateway}!ctl"


def _pair(value, what, first_type, second_type):
    if not isinstance(value, (list, tuple)) or len(value) != 2 \
            or not isinstance(value[0], first_type) or not isinstance(value[1], second_type):
        raise BadMessage(f"scope {what} is not a pair")
    return value


def build_scope(raw, handle):
    """The consumer's scope from the connect's SCOPE; raises BadMessage."""
    if not isinstance(raw, dict):
        raise BadMessage("scope is not a map")
    if raw.get("type") != "websocket":
        raise BadMessage("scope type is not websocket")
    path = raw.get("path")
    if not isinstance(path, str):
        raise BadMessage("scope path is not a string")
    raw_path = raw.get("raw_path", path.encode("utf-8", "surrogateescape"))
    query = raw.get("query_string", b"")
    if not isinstance(raw_path, bytes) or not isinstance(query, bytes):
        raise BadMessage("scope raw_path or query_string is not bytes")
    headers = raw.get("headers", [])
    if not isinstance(headers, list) or len(headers) > MAX_HEADERS:
        raise BadMessage("scope headers is not a list (of at most 1000)")
    headers = [tuple(_pair(h, "header", bytes, bytes)) for h in headers]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": raw.get("http_version", "1.1"),
        "scheme": raw.get("scheme", "ws"),
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": raw.get("root_path", ""),
        "headers": headers,
    }
    for key in ("http_version", "scheme", "root_path"):
        if not isinstance(scope[key], str):
            raise BadMessage(f"scope {key} is not a string")
    for key in ("client", "server"):
        value = raw.get(key)
        scope[key] = None if value is None else list(_pair(value, key, str, int))
    subprotocols = raw.get("subprotocols", [])
    if not isinstance(subprotocols, list) or len(subprotocols) > MAX_SUBPROTOCOLS \
            or not all(isinstance(s, str) for s in subprotocols):
        raise BadMessage("scope subprotocols is not a list of strings")
    scope["subprotocols"] = subprotocols
    route = raw.get("url_route", {"args": [], "kwargs": {}})
    if not isinstance(route, dict):
        raise BadMessage("scope url_route is not a map")
    args, kwargs = route.get("args", []), route.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict) or len(args) + len(kwargs) > MAX_KWARGS \
            or not all(isinstance(a, str) for a in args) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in kwargs.items()):
        raise BadMessage("scope url_route is not {args: [str], kwargs: {str: str}}")
    scope["url_route"] = {"args": tuple(args), "kwargs": dict(kwargs)}
    scope["switchboard"] = handle
    return scope
