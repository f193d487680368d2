# settings.py — minimal Django settings for the seed peer (bench/peers/README.md).
#
# Why: bench/compare measures the stack Switchboard replaces — Django
# Channels' tutorial ChatConsumer on daphne with channels_redis — so this is
# the seed's settings with everything the chat does not use taken out: no
# database, no templates, no static files. The channel layer is
# channels_redis' RedisChannelLayer with its defaults (capacity 100,
# expiry 60, group_expiry 86400) on the Redis named by SB_REDIS_HOST /
# SB_REDIS_PORT (run_seed.sh sets them to its private redis-server).
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A benchmark-only key: nothing here signs anything a user keeps.
SECRET_KEY = os.environ.get("SB_PEER_SECRET_KEY", "switchboard-bench-seed-peer-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]

# contenttypes + auth: only so channels.auth.AuthMiddlewareStack (the seed's
# wrapping, see asgi.py) can import AnonymousUser. No model is ever queried.
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "chat",
]
MIDDLEWARE = []
ROOT_URLCONF = "django_chat.urls"
DATABASES = {}  # none: the chat never touches one
# The seed used the default (database) session engine; with no cookie from
# the bench no session is ever loaded, and signed cookies keep it DB-free.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

ASGI_APPLICATION = "django_chat.asgi.application"

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

USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
