# compare_lib/stacks.py — the server processes of one compared configuration
# for bench/compare: a private redis-server plus Switchboard's layerd and
# gateways, or the seed through bench/peers/run_seed.sh; starting them with
# bounded waits, telling whether they still run, and stopping them.
#
# Why a module of its own: process handling is the part of the comparison
# that must never leak a server, so it sits apart from the plans and the
# table, small enough to read whole. Stack.stop() is safe to call twice and
# kills only the PIDs it started or run_seed.sh named. Single-threaded;
# signals (on_signal) turn into Interrupted in the main thread.
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_SEED = os.path.join(ROOT, "bench", "peers", "run_seed.sh")

# Switchboard's gateways run with a per-connection rate limit above the
# fan-out senders' MAX_SENDER_RATE (cases.py). The seed has no rate limit at all.
GATEWAY_BENCH_ARGS = ["--rate-limit", "1000", "--rate-burst", "1000", "--threads", "2"]


def log(msg):
    print(f"compare: {msg}", file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmdline_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pid_running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def quiesce(pids, limit):
    """Wait (at most `limit` s) until the servers use < 5% of a core over 0.5 s:
    a backlog left by an overloaded step must not leak into the next run."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        a = cpu_ticks(pids)
        time.sleep(0.5)
        if (cpu_ticks(pids) - a) / hz / 0.5 < 0.05:
            return time.monotonic() - t0
    log(f"servers still busy after {limit:g} s; going on")
    return time.monotonic() - t0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------- processes
class Stack:
    """The processes of one configuration; stop() is safe to call twice."""

    def __init__(self, name, workdir):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.procs = []  # (label, Popen)
        self.pids = {}  # label -> pid (what the bench measures)
        self.urls = []
        self.commands = []
        self.seed_args = None

    def spawn(self, label, argv, env=None, cwd=None):
        """Start argv (its output to <dir>/<label>.log); env: variables added to ours."""
        self.commands.append(shlex.join(argv) if not env else
                             shlex.join(["env", *(f"{k}={v}" for k, v in env.items()), *argv]))
        logf = open(os.path.join(self.dir, f"{label}.log"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             env={**os.environ, **env} if env else None, cwd=cwd)
        logf.close()
        self.procs.append((label, p))
        self.pids[label] = p.pid
        return p

    def alive(self):
        if any(p.poll() is not None for _, p in self.procs):
            return False
        spawned = {p.pid for _, p in self.procs}
        # The seed's processes are not our children: look at /proc (gone or zombie = dead).
        return all(pid_running(pid) for pid in self.pids.values() if pid not in spawned)

    def stop(self):
        if self.seed_args:
            try:
                subprocess.run([RUN_SEED, "stop", *self.seed_args], timeout=30,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except Exception as e:  # fall back on the PIDs below
                log(f"run_seed.sh stop failed: {e!r}")
            # run_seed.sh checks the PIDs are still daphne/redis before killing;
            # make sure here too, by PID only.
            for label, pid in self.pids.items():
                want = "daphne" if label == "daphne" else "redis-server"
                if want in cmdline_of(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            self.seed_args = None
        # Gateways first (they tell layerd), then layerd, then Redis.
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 5
        for label, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{self.name}: {label} (pid {p.pid}) ignored SIGTERM; killing")
                p.kill()
                p.wait(timeout=5)
        self.procs = []


def wait_until(what, limit, check, proc_ok):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if not proc_ok():
            raise RuntimeError(f"{what}: a process exited while starting")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {limit} s waiting for {what}")


def redis_ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")


def healthz(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return r.status == 200


def start_switchboard(stack, bindir, gateways):
    rp, lp = free_port(), free_port()
    stack.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(rp), "--dir", stack.dir,
                          "--save", "", "--appendonly", "no", "--daemonize", "no"])
    wait_until("redis-server", 10, lambda: redis_ping(rp), stack.alive)
    stack.spawn("layerd", [os.path.join(bindir, "switchboard-layerd"), "--bind", f"tcp://127.0.0.1:{lp}",
                           "--redis", f"redis://127.0.0.1:{rp}/0"])
    for i in range(gateways):
        hp = free_port()
        argv = [os.path.join(bindir, "switchboard-gateway"), "--listen", f"127.0.0.1:{hp}",
                "--layerd", f"tcp://127.0.0.1:{lp}", *GATEWAY_BENCH_ARGS]
        if gateways > 1:
            argv += ["--id", f"gw{i + 1}"]
        stack.spawn(f"gateway{i + 1}", argv)
        wait_until(f"gateway{i + 1} /healthz", 20, lambda: healthz(hp), stack.alive)
        stack.urls.append(f"ws://127.0.0.1:{hp}")


def start_seed(stack):
    hp, rp = free_port(), free_port()
    stack.seed_args = [str(hp), str(rp), stack.dir]
    argv = [RUN_SEED, "start", *stack.seed_args]
    stack.commands.append(shlex.join(argv))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "pid" and parts[2].isdigit():
            stack.pids[parts[1]] = int(parts[2])
    if r.returncode != 0 or "daphne" not in stack.pids:
        raise RuntimeError(f"run_seed.sh start failed (rc {r.returncode}): {r.stderr.strip()[-500:]}")
    stack.commands.append(f"  (it runs: env PYTHONPATH={ROOT}/tests/django_app SB_REDIS_PORT={rp} "
                          f"/usr/bin/python3 -m daphne -b 127.0.0.1 -p {hp} chatsite.asgi:application; "
                          f"redis-server --bind 127.0.0.1 --port {rp} --save '' --appendonly no)")
    stack.urls.append(f"ws://127.0.0.1:{hp}")
