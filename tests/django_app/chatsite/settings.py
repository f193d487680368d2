# settings.py — minimal Django settings for the interop test app.
#
# The tutorial chat with everything the test does not use taken out: no
# database (DATABASES = {}: nothing queries one), no templates, no static
# files, unless SB_DJANGO_DB_DIR asks for the database mode below. The channel layer is channels_redis' RedisChannelLayer with its
# defaults on the Redis named by SB_REDIS_HOST / SB_REDIS_PORT, which the
# test points at the same redis-server as Switchboard's layerd.
#
# Switchboard's worker tests (tests/integration/test_switchboard_django.py)
# select more by environment: SB_DJANGO_DB_DIR (an SQLite database and
# database sessions there, for a real login), SB_REDIS_HOSTS
# ("host:port,host:port": channels_redis sharding), SB_SYMMETRIC_KEYS
# ("k1,k2"), SB_STATS_INTERVAL (switchboard_django's stats line, seconds),
# SB_JWT_SECRET (SWITCHBOARD_JWT_SECRET: the gateway's --jwt-secret),
# SB_GATEWAY_WS_URL and SB_TOKEN_TTL (the room page's SWITCHBOARD_WS_URL and
# SWITCHBOARD_TOKEN_TTL, docs/django.md, Identity).
import importlib.util
import os
import sys

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# switchboard_django from this repository when it is not installed.
if importlib.util.find_spec("switchboard_django") is None:
    sys.path.append(os.path.join(os.path.dirname(os.path.dirname(BASE_DIR)), "contrib", "django"))

# Test-only key: nothing here signs anything anybody keeps.
SECRET_KEY = os.environ.get("SB_PEER_SECRET_KEY", "switchboard-interop-test-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]

# contenttypes + auth only so channels.auth.AuthMiddlewareStack (the seed's
# wrapping, see asgi.py) can import AnonymousUser; no model is ever queried.
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "chat",
]
MIDDLEWARE = []
ROOT_URLCONF = "chatsite.urls"
DATABASES = {}
# With no session cookie nothing is ever loaded; signed cookies keep it DB-free.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

DB_DIR = os.environ.get("SB_DJANGO_DB_DIR")
if DB_DIR:
    # Users and database sessions, so a login gives a real session cookie.
    INSTALLED_APPS.insert(2, "django.contrib.sessions")
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": os.path.join(DB_DIR, "db.sqlite3")}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    # The room page of chat/views.py: a login, templates, and switchboard_django's
    # template tags ({% load switchboard %}) with the gateway it points at.
    INSTALLED_APPS.append("switchboard_django")
    MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                  "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                     "django.contrib.auth.context_processors.auth"]}}]
    LOGIN_URL = "/accounts/login/"
    # The gateway's base URL (empty: the page's own origin, e.g. nginx in front) and the tokens' lifetime.
    SWITCHBOARD_WS_URL = os.environ.get("SB_GATEWAY_WS_URL", "")
    SWITCHBOARD_TOKEN_TTL = int(os.environ.get("SB_TOKEN_TTL", "300"))

ASGI_APPLICATION = "chatsite.asgi.application"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                (
                    os.environ.get("SB_REDIS_HOST", "127.0.0.1"),
                    int(os.environ.get("SB_REDIS_PORT", "6379")),
                )
            ],
        },
    },
}
if os.environ.get("SB_REDIS_HOSTS"):
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        (h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in os.environ["SB_REDIS_HOSTS"].split(",")]
if os.environ.get("SB_SYMMETRIC_KEYS"):
    CHANNEL_LAYERS["default"]["CONFIG"]["symmetric_encryption_keys"] = os.environ["SB_SYMMETRIC_KEYS"].split(",")

SWITCHBOARD_STATS_INTERVAL = float(os.environ.get("SB_STATS_INTERVAL", "60"))
# The gateway's --jwt-secret, for switchboard_django.token_for (docs/django.md, Identity).
SWITCHBOARD_JWT_SECRET = os.environ.get("SB_JWT_SECRET", "")

USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # django.channels.worker: runworker's "Running worker for channels ..." (tests wait for it)
    "loggers": {"switchboard_django": {"level": "INFO"}, "django.channels.worker": {"level": "INFO"}},
}
