# views.py — the room page as a Django shop serves it beside Switchboard:
# Django renders it for the logged-in user, and the page's WebSocket goes
# to a Switchboard gateway with `?token=` for that user and that room
# (templates/chat/sb_room.html, `{% switchboard_ws_url %}`; docs/django.md,
# Identity). Anonymous visitors are sent to the login page and get no token;
# a room the gateway would not take is a 404.
# Needs the database mode (SB_DJANGO_DB_DIR, chatsite/settings.py).
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from switchboard_django.page import check_room


@login_required
def sb_room(request, room_name):
    try:
        check_room(room_name)  # the tag would refuse it; the visitor gets a 404, not a 500
    except ValueError as e:
        raise Http404(str(e))
    return render(request, "chat/sb_room.html", {"room_name": room_name})
