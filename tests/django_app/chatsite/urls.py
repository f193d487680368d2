# urls.py — no HTTP routes outside the database mode: the WebSocket tests
# only need a GET that Django answers 404 (daphne has loaded the
# application). With SB_DJANGO_DB_DIR: the login page and the room page
# whose socket goes to a Switchboard gateway (chat/views.py).
from django.conf import settings
from django.urls import path

urlpatterns = []
if settings.DB_DIR:
    from django.contrib.auth import views as auth_views

    from chat import views

    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        path("sb/chat/<str:room_name>/", views.sb_room, name="sb-room"),
    ]
