# render.py — `gateway_renders`, the consumer's declared fast path.
#
# A consumer class says which group-event handlers only forward fields to
# the browser: {"chat_message": ["message"]} means chat_message(event)
# sends {"message": event["message"]} and nothing else. The worker sends
# this map (RENDER) with the accept and the gateway renders those events
# itself (docs/protocol.md, Part 3, Fast path). Checked when the class is
# used (as_asgi, i.e. when asgi.py is imported at startup) against the
# bounds the gateway enforces, so a bad one fails there, loudly, instead
# of refusing every socket with 403.
from django.core.exceptions import ImproperlyConfigured

MAX_HANDLERS = 64
MAX_FIELDS = 16
MAX_NAME = 100


def check_renders(cls):
    """Returns RENDER ({handler: [field, ...]}) for the class, or raises
    ImproperlyConfigured saying what is wrong."""
    value = getattr(cls, "gateway_renders", None)
    where = f"{cls.__module__}.{cls.__qualname__}.gateway_renders"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{where} must be a dict of handler name -> list of fields, "
                                   f"not {type(value).__name__}")
    if len(value) > MAX_HANDLERS:
        raise ImproperlyConfigured(f"{where} names {len(value)} handlers; at most {MAX_HANDLERS}")
    render = {}
    for handler, fields in value.items():
        if not isinstance(handler, str) or not handler or len(handler) > MAX_NAME \
                or handler.startswith("_") or "." in handler:
            raise ImproperlyConfigured(
                f"{where}: {handler!r} is not a handler name (1-{MAX_NAME} characters, "
                f"'.' written as '_', no leading '_')")
        if not callable(getattr(cls, handler, None)):
            raise ImproperlyConfigured(f"{where} names {handler!r}, but {cls.__qualname__} "
                                       f"has no such handler method")
        if isinstance(fields, (str, bytes)) or not isinstance(fields, (list, tuple)):
            raise ImproperlyConfigured(f"{where}[{handler!r}] must be a list of field names")
        if not 1 <= len(fields) <= MAX_FIELDS:
            raise ImproperlyConfigured(f"{where}[{handler!r}] lists {len(fields)} fields; "
                                       f"1 to {MAX_FIELDS}")
        for field in fields:
            if not isinstance(field, str) or not field or len(field) > MAX_NAME:
                raise ImproperlyConfigured(f"{where}[{handler!r}]: {field!r} is not a field name "
                                           f"(1-{MAX_NAME} characters)")
        if len(set(fields)) != len(fields):
            raise ImproperlyConfigured(f"{where}[{handler!r}] lists a field twice")
        render[handler] = list(fields)
    return render
