# consumers/worker_settings.py — the Django settings bench/consumers' worker
# processes run with: the app's own (SB_BENCH_APP_SETTINGS, default
# chatsite.settings) with the channel capacities docs/django.md ("Channel
# capacities") tells a deployment with busy sockets to set, the same as
# the bench gives layerd (legs.CAPACITY). Without them a message into a room
# of 1,000 handled in the worker is 1,000 events for one worker inbox of
# channels_redis' default capacity, 100, and most are refused. Read once,
# by Django, when a worker process starts.
import importlib
import os

_app = importlib.import_module(os.environ.get("SB_BENCH_APP_SETTINGS", "chatsite.settings"))
globals().update({k: v for k, v in vars(_app).items() if k.isupper()})

CHANNEL_LAYERS = {**_app.CHANNEL_LAYERS}
CHANNEL_LAYERS["default"] = {**CHANNEL_LAYERS["default"]}
CHANNEL_LAYERS["default"]["CONFIG"] = {
    **CHANNEL_LAYERS["default"].get("CONFIG", {}),
    "channel_capacity": {glob: int(n) for glob, n in
                         (x.split("=", 1) for x in os.environ["SB_BENCH_CAPACITY"].split(","))},
}
