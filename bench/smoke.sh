#!/usr/bin/env bash
# smoke.sh BIN_DIR — the CI-sized run of switchboard-bench (ctest bench.smoke).
#
# Starts a private redis-server (free port, temp dir, no persistence), one
# switchboard-layerd and one switchboard-gateway on loopback, waits for
# GET /healthz = 200, then runs every scenario for a couple of seconds with
# small numbers. It checks that each stdout line is a JSON result and that
# the fanout delivered something (ratio > 0) — never a timing threshold:
# timing belongs to people reading the numbers, not to CI. Everything it
# started is killed on exit (trap), whatever happens. Every wait is bounded.
set -euo pipefail

bin="${1:?usage: smoke.sh BIN_DIR}"
bench="$bin/switchboard-bench"
py=/usr/bin/python3
work="$(mktemp -d "${TMPDIR:-/tmp}/sb-bench-smoke.XXXXXX")"
pids=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "smoke: FAILED (rc=$rc); server logs:" >&2
    tail -n 30 "$work"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs="$1" what="$2"
  shift 2
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "smoke: timed out waiting for $what" >&2
  return 1
}

redis_port="$(free_port)"
layerd_port="$(free_port)"
http_port="$(free_port)"

redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work" --save "" --appendonly no \
  --daemonize no --logfile "$work/redis.log" &
pids+=($!)
wait_for 10 "redis" redis-cli -p "$redis_port" ping

"$bin/switchboard-layerd" --bind "tcp://127.0.0.1:$layerd_port" --redis "redis://127.0.0.1:$redis_port/0" \
  --log-level warn 2>"$work/layerd.log" &
pids+=($!)
layerd_pid=$!
"$bin/switchboard-gateway" --listen "127.0.0.1:$http_port" --layerd "tcp://127.0.0.1:$layerd_port" \
  --id smoke --max-message-size 131072 --log-level warn 2>"$work/gateway.log" &
pids+=($!)
gateway_pid=$!
wait_for 20 "gateway /healthz" curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz"

url="ws://127.0.0.1:$http_port"
common=(--url "$url" --server-pid "$gateway_pid" --server-pid "$layerd_pid" --deadline 45 --workers 2)

run() {  # run NAME ARGS... : runs the bench, keeps its JSON lines in $work/NAME.jsonl
  local name="$1"
  shift
  echo "smoke: switchboard-bench $*" >&2
  timeout 60 "$bench" "$@" "${common[@]}" >"$work/$name.jsonl"
}

run idle idle --clients 200 --room-size 50 --settle 0.5 --duration 1
run fanout fanout --members 50 --senders 5 --rates 100,200 --duration 2 --drain 1
# 70,000-byte payloads: 64-bit frame lengths both ways (hence the gateway's larger --max-message-size).
# --half-max: one more step at 2 msg/s, half of the highest rate that held.
run big fanout --members 5 --senders 2 --rates 4 --payload-bytes 70000 --duration 1 --drain 1 --half-max
run rooms rooms --clients 200 --room-size 10 --rate-per-client 1 --duration 2 --drain 1 --busy-poll-us 200
run churn churn --rate 50 --rooms 10 --duration 2 --drain 1 --connect-concurrency 50

"$py" - "$work" <<'PY'
import json, sys, pathlib
work = pathlib.Path(sys.argv[1])
def lines(name):
    return lines_as(name, name)
def lines_as(name, scenario):
    out = []
    for raw in (work / f"{name}.jsonl").read_text().splitlines():
        obj = json.loads(raw)  # every line must be JSON
        for key in ("scenario", "phase", "params", "metrics"):
            assert key in obj, f"{name}: missing {key}: {raw}"
        assert obj["scenario"] == scenario, raw
        assert obj["phase"] != "aborted", raw
        out.append(obj)
    assert out, f"{name}: no output"
    return out
idle = lines("idle")
assert idle[-1]["metrics"]["opened"] > 0, idle[-1]
fan = lines("fanout")
steps = [o for o in fan if o["phase"] == "step"]
assert steps, "fanout: no step"
assert all(s["metrics"]["delivery_ratio"] > 0 for s in steps), steps
assert any(o["phase"] == "summary" for o in fan), "fanout: no summary"
# the whole machine did some work for the deliveries (generator included)
assert all(s["metrics"]["machine_cpu_us_per_delivery"] > 0 and s["metrics"]["machine_cpus"] >= 1 for s in steps), steps
# The summary's half_max is the step at half the highest sustainable rate.
summary = [o for o in fan if o["phase"] == "summary"][0]["metrics"]
if summary["at_rate"] == 200:
    assert summary["half_max"]["rate"] == 100 and summary["half_max"]["step"] == 1, summary
    assert summary["max_is_lower_bound"] is True, summary
big_all = lines_as("big", "fanout")
big = [o for o in big_all if o["phase"] == "step"]
assert big and big[0]["metrics"]["delivery_ratio"] > 0 and big[0]["metrics"]["protocol_errors"] == 0, big
big_summary = [o for o in big_all if o["phase"] == "summary"][0]["metrics"]
if big_summary["at_rate"] == 4:  # the 4 msg/s step held: --half-max ran a step at 2
    assert len(big) == 2 and big[1]["params"]["rate"] == 2, big
    assert big_summary["half_max"]["rate"] == 2 and big_summary["half_max"]["step"] == 2, big_summary
rooms = lines("rooms")
assert rooms[-1]["metrics"]["delivery_ratio"] > 0, rooms[-1]
churn = lines("churn")
assert churn[-1]["metrics"]["attempted"] > 0, churn[-1]
assert churn[-1]["metrics"]["machine_cpu_us_per_cycle"] > 0, churn[-1]
print("smoke: ok", file=sys.stderr)
PY
