# settings.py — minimal Django settings for the interop test app.
#
# The tutorial chat with everything the test does not use taken out: no
# database (DATABASES = {}: nothing queries one), no templates, no static
# files. The channel layer is channels_redis' RedisChannelLayer with its
# defaults on the Redis named by SB_REDIS_HOST / SB_REDIS_PORT, which the
# test points at the same redis-server as Switchboard's layerd.
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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

USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
