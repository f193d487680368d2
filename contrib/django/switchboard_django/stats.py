# stats.py — the worker's counters and its rate-limited warnings.
#
# One Stats per process (`switchboard_django.stats`): the dispatchers add
# to it, log it every SWITCHBOARD_STATS_INTERVAL seconds (a Django setting,
# default 60) as one `stats ...` line of the `switchboard_django` logger,
# and tests read it from that line. Warnings an outsider can cause (a
# gateway's bad message, a message for a socket that is gone) go through
# `warn_limited`, so they cost a counter, not a log line, past one per key
# per interval.
import collections
import logging
import time

logger = logging.getLogger("switchboard_django")


class Stats:
    """Counters by name; `dropped` holds the drops by reason."""

    def __init__(self):
        self.counters = collections.Counter()
        self.dropped = collections.Counter()

    def add(self, name, n=1):
        self.counters[name] += n

    def drop(self, reason, n=1):
        self.dropped[reason] += n

    def snapshot(self):
        """A plain dict: counters, plus `dropped_<reason>` per drop reason."""
        out = dict(self.counters)
        for reason, n in self.dropped.items():
            out["dropped_" + reason] = n
        return out

    def line(self):
        snap = self.snapshot()
        return " ".join(f"{k}={snap[k]}" for k in sorted(snap))


stats = Stats()

_LIMIT_INTERVAL = 10.0
_MAX_KEYS = 256
_limited = {}  # key -> [last logged (monotonic), suppressed since]


def warn_limited(key, msg, *args):
    """logger.warning at most once per key per 10 s; the next line says how
    many were suppressed. At most 256 keys are remembered (keys are a fixed
    set of reasons, never outsider-chosen strings)."""
    now = time.monotonic()
    entry = _limited.get(key)
    if entry is not None and now - entry[0] < _LIMIT_INTERVAL:
        entry[1] += 1
        return
    suppressed = entry[1] if entry is not None else 0
    if entry is None and len(_limited) >= _MAX_KEYS:
        _limited.clear()
    _limited[key] = [now, 0]
    if suppressed:
        logger.warning(msg + " (%d more like this suppressed)", *args, suppressed)
    else:
        logger.warning(msg, *args)
