# switchboard.py — template tags that put a Switchboard socket into a
# Django-rendered page: `{% load switchboard %}`, then
# `{% switchboard_ws_url room_name %}` (the gateway's chat WebSocket URL
# for the room, with `?token=` for the logged-in user) or
# `{% switchboard_token room_name %}` (the token alone).
#
# Why tags: the view stays the tutorial's one-liner (render the room name),
# and the token's rooms are always exactly the room the page shows, so a
# page for room A can never open room B (docs/django.md, Identity).
# The room and the settings are checked here, in the request that renders
# the page, so a bad room is a clear error instead of a page whose socket
# the gateway refuses.
from django import template

from ..page import token_for_page, ws_url_for_page

register = template.Library()


def _user_of(context):
    request = getattr(context, "request", None) or context.get("request")
    if request is None:
        raise ValueError("switchboard: the template needs the request "
                         "(render it with render(request, ...))")
    return request.user


@register.simple_tag(takes_context=True)
def switchboard_token(context, room_name):
    """The token for the request's user that opens `room_name` only."""
    return token_for_page(_user_of(context), room_name)


@register.simple_tag(takes_context=True)
def switchboard_ws_url(context, room_name):
    """SWITCHBOARD_WS_URL + /ws/chat/<room>/?token=<token for that room>."""
    return ws_url_for_page(_user_of(context), room_name)
