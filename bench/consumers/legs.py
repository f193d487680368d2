# consumers/legs.py — the four stacks bench/consumers measures, each started
# on free loopback ports and stopped by compare_lib.stacks.Stack:
#
#   builtin  (d) redis-server, layerd, one gateway with the built-in chat
#            route: the built-in chat consumer, the reference.
#   fast     (a) the same plus `--route '/ws/chat/<room_name>/ django:CH'`
#            and `python3 manage.py runworker CH` (switchboard_django), CH a
#            worker channel whose consumer declares gateway_renders, so the
#            gateway renders chat_message itself (docs/protocol.md, Part 3,
#            Fast path).
#   handler  (b) the same with a channel whose consumer has no
#            gateway_renders: chat_message runs in the worker per recipient.
#   daphne   (c) the same tutorial consumer on one daphne process with
#            channels_redis (the seed peer: bench/peers/run_seed.sh).
#
# Why a module of its own: which processes a leg runs, and with which
# options, is what a reader checks to trust a ratio; it sits apart from the
# plan and the table. Every wait is bounded; a leg that does not come up
# raises RuntimeError and the run goes on with the next. Single-threaded.
import os
import subprocess
import time
import urllib.request

from compare_lib.stacks import RUN_SEED, free_port, healthz, redis_ping, start_seed, wait_until

ORDER = ["builtin", "fast", "handler", "daphne"]
TITLES = {
    "fast": "(a) consumer route, fast path: runworker + gateway renders chat_message",
    "handler": "(b) consumer route, handler in worker: chat_message runs in Python per recipient",
    "daphne": "(c) the same consumer under daphne + channels_redis (seed peer)",
    "builtin": "(d) built-in chat route (reference)",
}
# Every Switchboard leg runs the same gateway: `--gateway-threads` I/O
# threads (args.gateway_threads; two, the machine's cores, unless the run
# asks otherwise; the gateway's own default is one) and a per-connection
# rate limit above the bench's senders (plan.MAX_SENDER_RATE). daphne has
# no rate limit at all.
GATEWAY_ARGS = ["--rate-limit", "1000", "--rate-burst", "1000"]
GATEWAY_THREADS = 2  # what --gateway-threads defaults to


def gateway_args(args):
    """The gateway options of every Switchboard leg of this run."""
    return ["--threads", str(getattr(args, "gateway_threads", GATEWAY_THREADS)), *GATEWAY_ARGS]
# Every Switchboard leg's gateway also serves the built-in chat on /ws/pub/:
# the "pubfanout" part's senders (plan.py) group_send through it into the
# same group as the leg's /ws/chat/ sockets, so the fan-out of (a) and (d)
# is measured from one and the same source, a GROUP_SEND that crosses no worker.
PUB_ROUTE = "/ws/pub/<room_name>/ chat"
# the legs that run "pubfanout"
PUB_LEGS = ("builtin", "fast")
PY = "/usr/bin/python3"  # Debian's, with Django, Channels and channels_redis
HERE = os.path.dirname(os.path.abspath(__file__))


def capacity(channel):
    """The channel capacities of a consumer leg, for layerd (what gateways write)
    and the workers (worker_settings.py), as docs/django.md, "Channel
    capacities", recommends for busy sockets: every process inbox (the workers'
    and the gateway's) 5,000, the worker channel 1,000."""
    return [("specific.*", 5000), (channel, 1000)]


def kind_of(label):
    """"gateway1" -> "gateway": what the table charges a process' CPU to."""
    return label.rstrip("0123456789")


def kinds(stack):
    """{kind: [pids]} of a started stack."""
    out = {}
    for label, pid in stack.pids.items():
        out.setdefault(kind_of(label), []).append(pid)
    return out


def chat_check(stack, limit):
    """Two clients in one room exchange {"message": ...} (run_seed.sh check), retried
    until `limit` s: a worker that is still importing Django answers 503 meanwhile.
    A process of the stack that exits ends the wait at once."""
    port = stack.urls[0].rsplit(":", 1)[1]
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < limit:
        if not stack.alive():
            raise RuntimeError("a process exited while starting")
        r = subprocess.run([RUN_SEED, "check", str(port), "-", "-"], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return
        last = (r.stderr or r.stdout).strip()[-300:]
        time.sleep(0.5)
    raise RuntimeError(f"chat check on port {port} failed for {limit:g} s: {last}")


def start(stack, leg, args):
    """Start the processes of `leg` into `stack` (a compare_lib.stacks.Stack)."""
    if leg == "daphne":
        start_seed(stack)
        return
    rp, lp, hp = free_port(), free_port(), free_port()
    stack.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(rp), "--dir", stack.dir,
                          "--save", "", "--appendonly", "no", "--daemonize", "no"])
    wait_until("redis-server", 10, lambda: redis_ping(rp), stack.alive)
    channel = {"fast": args.fast_channel, "handler": args.handler_channel}.get(leg)
    caps = capacity(channel) if channel else []
    stack.spawn("layerd", [os.path.join(args.bin, "switchboard-layerd"), "--bind", f"tcp://127.0.0.1:{lp}",
                           "--redis", f"redis://127.0.0.1:{rp}/0",
                           *(a for g, n in caps for a in ("--channel-capacity", f"{g}={n}"))])
    gw = [os.path.join(args.bin, "switchboard-gateway"), "--listen", f"127.0.0.1:{hp}",
          "--layerd", f"tcp://127.0.0.1:{lp}", *gateway_args(args)]
    gw += ["--route", f"/ws/chat/<room_name>/ django:{channel}" if channel else "/ws/chat/<room_name>/ chat",
           "--route", PUB_ROUTE]
    stack.spawn("gateway1", gw)
    wait_until("gateway /healthz", 20, lambda: healthz(hp), stack.alive)
    stack.urls.append(f"ws://127.0.0.1:{hp}")
    if channel:
        env = {"PYTHONPATH": os.pathsep.join([args.contrib, args.django_app, HERE]),
               "DJANGO_SETTINGS_MODULE": "worker_settings", "SB_BENCH_APP_SETTINGS": args.settings,
               "SB_BENCH_CAPACITY": ",".join(f"{g}={n}" for g, n in caps),
               "SB_REDIS_HOST": "127.0.0.1", "SB_REDIS_PORT": str(rp)}
        for i in range(args.worker_procs):
            stack.spawn(f"worker{i + 1}", [PY, "manage.py", "runworker", channel], env=env, cwd=args.django_app)


def exited(stack):
    """One line per process of the stack that has exited: its exit code and last log line."""
    out = []
    for label, p in stack.procs:
        if p.poll() is None:
            continue
        try:
            with open(os.path.join(stack.dir, f"{label}.log"), errors="replace") as f:
                last = [x.strip() for x in f.readlines() if x.strip()][-1:] or ["(no output)"]
        except OSError:
            last = ["(no log)"]
        out.append(f"{label} exited with {p.returncode}: {last[0][:300]}")
    return out


def gateway_counters(stack):
    """The gateways' worker counters and close reasons from /metrics (what shows
    whether a leg ran the fast path), as {"name{labels}": value}."""
    out = {}
    for url in stack.urls:
        try:
            with urllib.request.urlopen(url.replace("ws:", "http:") + "/metrics", timeout=3) as r:
                text = r.read().decode(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("switchboard_gateway_worker", "switchboard_gateway_closes_total",
                                "switchboard_gateway_deliveries_dropped_total")):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = out.get(name, 0) + float(value)
                except ValueError:
                    pass
    return out
