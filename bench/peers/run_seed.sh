#!/usr/bin/env bash
# run_seed.sh start|stop|check <http_port> <redis_port> <state_dir>
#
# Starts (or stops) the seed peer that bench/compare measures Switchboard
# against: the Django Channels tutorial chat (tests/django_app, the same app
# the Django interop tests run) on one
# daphne, with channels_redis on a private redis-server. Debian 12 packages
# only (see bench/peers/README.md); nothing is downloaded.
#
#   start  redis-server on 127.0.0.1:<redis_port> (--save "" --appendonly no,
#          data and log in <state_dir>), then one daphne on
#          127.0.0.1:<http_port>; waits (bounded) until a WebSocket to
#          /ws/chat/probe/ opens, then prints `pid daphne N` and `pid redis N`.
#          On failure it stops what it started and exits 1.
#   stop   kills the daphne and redis-server recorded in <state_dir> (TERM,
#          then KILL after 5 s); only those PIDs, and only if they still
#          are that program.
#   check  two WebSocket clients in one room: one sends {"message": ...},
#          both must receive it (exit 0) within 10 s. <redis_port> and
#          <state_dir> are ignored. Works against a Switchboard gateway too.
#
# Environment: SB_PEER_MIDDLEWARE=none drops the seed's
# AllowedHostsOriginValidator(AuthMiddlewareStack(...)) wrapping (asgi.py);
# SB_SEED_START_TIMEOUT (default 30) bounds the start-up wait, in seconds.
set -euo pipefail

PY=/usr/bin/python3  # Debian's python, which has the python3-* packages (not a pyenv shim)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$here/../../tests/django_app"

usage() {
  echo "usage: $0 start|stop|check <http_port> <redis_port> <state_dir>" >&2
  exit 2
}

[ $# -eq 4 ] || usage
cmd="$1" http_port="$2" redis_port="$3" state="$4"
ports=("$http_port")
[ "$cmd" = check ] || ports+=("$redis_port")
for p in "${ports[@]}"; do
  [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || { echo "run_seed.sh: bad port $p" >&2; exit 2; }
done

# ws_probe URL SECONDS: exit 0 once a WebSocket to URL opens (retrying until SECONDS).
ws_probe() {
  "$PY" - "$1" "$2" <<'PY'
import asyncio, sys, time
import websockets

url, limit = sys.argv[1], float(sys.argv[2])

async def main():
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(url, open_timeout=3, close_timeout=1):
                return 0
        except Exception as e:  # refused while starting, 404 before routing, ...
            last = e
        await asyncio.sleep(0.2)
    print(f"run_seed.sh: no WebSocket at {url} after {limit:g} s: {last!r}", file=sys.stderr)
    return 1

sys.exit(asyncio.run(main()))
PY
}

# ws_check URL_BASE: two clients in one room exchange {"message": ...}.
ws_check() {
  "$PY" - "$1" <<'PY'
import asyncio, json, sys, uuid
import websockets

base = sys.argv[1]
room = "check" + uuid.uuid4().hex[:8]
url = f"{base}/ws/chat/{room}/"

async def recv_json(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 5))

async def main():
    async with websockets.connect(url, open_timeout=5) as a, websockets.connect(url, open_timeout=5) as b:
        text = "hello from a " + uuid.uuid4().hex[:6]
        await a.send(json.dumps({"message": text}))
        got_a, got_b = await asyncio.gather(recv_json(a), recv_json(b))
        # A seed client reads only "message"; servers may stamp more
        # (Switchboard adds the sender's "user"), the same for every member.
        want = {"message": text}
        if got_a.get("message") != text or got_a != got_b:
            print(f"run_seed.sh check: FAILED: a got {got_a!r}, b got {got_b!r}, wanted {want!r}", file=sys.stderr)
            return 1
        await b.send(json.dumps({"message": "reply from b"}))
        got_a, got_b = await asyncio.gather(recv_json(a), recv_json(b))
        if got_a != got_b or got_a.get("message") != "reply from b":
            print(f"run_seed.sh check: FAILED on reply: {got_a!r} {got_b!r}", file=sys.stderr)
            return 1
    print(f"run_seed.sh check: ok: two clients in room {room} exchanged {{\"message\": ...}} both ways at {base}")
    return 0

try:
    sys.exit(asyncio.run(asyncio.wait_for(main(), 10)))
except Exception as e:
    print(f"run_seed.sh check: FAILED: {e!r}", file=sys.stderr)
    sys.exit(1)
PY
}

# is_prog PID NAME: the process PID is alive and its command line mentions NAME.
is_prog() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

# stop_one PIDFILE NAME: TERM the recorded process, KILL it after 5 s.
stop_one() {
  local file="$1" name="$2" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  rm -f "$file"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  is_prog "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    is_prog "$pid" "$name" || return 0
    sleep 0.1
  done
  echo "run_seed.sh: $name (pid $pid) ignored SIGTERM; killing" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

do_stop() {
  stop_one "$state/daphne.pid" "daphne"
  stop_one "$state/redis.pid" "redis-server"
}

do_start() {
  mkdir -p "$state"
  state="$(cd "$state" && pwd)"
  for f in daphne redis; do
    if [ -f "$state/$f.pid" ] && kill -0 "$(cat "$state/$f.pid")" 2>/dev/null; then
      echo "run_seed.sh: $f already running from $state (pid $(cat "$state/$f.pid")); stop it first" >&2
      exit 1
    fi
  done
  command -v redis-server >/dev/null || { echo "run_seed.sh: redis-server missing (apt-get install redis-server)" >&2; exit 1; }
  "$PY" -c 'import django, channels, channels_redis, daphne, websockets' 2>/dev/null || {
    echo "run_seed.sh: missing Python packages; apt-get install python3-django python3-django-channels" \
         "python3-channels-redis python3-daphne python3-websockets" >&2
    exit 1
  }
  local limit="${SB_SEED_START_TIMEOUT:-30}"

  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$state" --save "" --appendonly no \
    --daemonize no --logfile "$state/redis.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$state/redis.pid"
  local ok=0
  for _ in $(seq 100); do  # 10 s
    if redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; then ok=1; break; fi
    kill -0 "$(cat "$state/redis.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    echo "run_seed.sh: redis-server did not answer on 127.0.0.1:$redis_port; log:" >&2
    tail -n 5 "$state/redis.log" >&2 2>/dev/null || true
    do_stop
    exit 1
  fi

  # `daphne` itself: Debian's python3-daphne ships the module but no
  # /usr/bin/daphne script, so it is run as `python3 -m daphne` (same CLI).
  # Its default access log (WebSocket connects/disconnects) goes to
  # daphne.log, as the seed's `nohup daphne ... &` wrote it to nohup.out.
  env PYTHONPATH="$project" DJANGO_SETTINGS_MODULE=chatsite.settings \
    SB_REDIS_HOST=127.0.0.1 SB_REDIS_PORT="$redis_port" \
    "$PY" -m daphne -b 127.0.0.1 -p "$http_port" chatsite.asgi:application \
    </dev/null >"$state/daphne.log" 2>&1 &
  echo $! >"$state/daphne.pid"
  if ! ws_probe "ws://127.0.0.1:$http_port/ws/chat/probe/" "$limit" || ! kill -0 "$(cat "$state/daphne.pid")" 2>/dev/null; then
    echo "run_seed.sh: daphne did not come up; log:" >&2
    tail -n 20 "$state/daphne.log" >&2 2>/dev/null || true
    do_stop
    exit 1
  fi
  echo "pid daphne $(cat "$state/daphne.pid")"
  echo "pid redis $(cat "$state/redis.pid")"
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  check) ws_check "ws://127.0.0.1:$http_port" ;;
  *) usage ;;
esac
