# test_bench_consumers.py — bench/consumers/run, the "Keep your consumers"
# benchmark (bench/README.md, "consumers"), run for real on small sizes.
#
# What must hold, whatever the machine's speed (nothing here asserts a
# timing or a rate): a bad --legs or a missing switchboard_django package
# is refused with one clear line before anything starts; a --quick run of
# the built-in and daphne legs starts both stacks, measures both ladders,
# prints one table with a column per leg and stops every process it
# started; the CPU it charges to each process kind over a step adds up to
# the bench's own server CPU for that step (so the per-kind split is read
# over the bench's window, not some other); and, when the package and the
# gateway's django routes are there, the fast-path leg's deliveries are
# rendered by the gateway and the handler leg's go through the worker, as
# the gateway's counters say. The built-in and fast-path legs also fan out
# from built-in senders on /ws/pub/ (switchboard-bench --sender-path, whose
# bad values are refused with one line).
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness_base import BIN_DIR, REPO

RUN = REPO / "bench" / "consumers" / "run"
PY = "/usr/bin/python3"
# switchboard_django and the Django project of the consumer legs: this tree's
# by default (the bench's own defaults); overridable to try another checkout.
CONTRIB = Path(os.environ.get("SB_BENCH_CONTRIB", str(REPO / "contrib" / "django")))
DJANGO_APP = Path(os.environ.get("SB_BENCH_DJANGO_APP", str(REPO / "tests" / "django_app")))


def run_bench(args, timeout):
    return subprocess.run([PY, str(RUN), "--bin", str(BIN_DIR), *args], capture_output=True, text=True,
                          timeout=timeout)


def result_lines(stdout):
    path = next(line.split(": ", 1)[1] for line in stdout.splitlines() if line.startswith("results: "))
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def own_processes(marker):
    """PIDs whose command line mentions `marker` (this run's state folder)."""
    out = []
    for cmd in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = Path(cmd).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            out.append(int(cmd.split("/")[2]))
    return out


class BadInput(unittest.TestCase):
    def test_a_bad_sender_path_is_refused_with_one_line(self):
        bench = str(BIN_DIR / "switchboard-bench")
        for args, says in ((["fanout", "--sender-path", "/pub"], "--sender-path must be a path"),
                           (["fanout", "--sender-path", "/ws/p ub/"], "--sender-path must be a path"),
                           (["rooms", "--sender-path", "/ws/pub/"], "for fanout only"),
                           (["fanout", "--sender-path", "/ws/pub/", "--members", "10", "--senders", "10"],
                            "--senders below --members")):
            r = subprocess.run([bench, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(says, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_unknown_leg_is_refused_with_its_name(self):
        r = run_bench(["--legs", "builtin,bogus"], 30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bogus", r.stderr)
        self.assertNotIn("starting", r.stderr)

    def test_worker_procs_out_of_range_is_refused(self):
        r = run_bench(["--worker-procs", "0"], 30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--worker-procs", r.stderr)

    def test_consumer_leg_without_the_package_says_so(self):
        r = run_bench(["--legs", "fast", "--contrib", "/nonexistent"], 30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("switchboard_django", r.stderr)
        self.assertIn("--legs builtin,daphne", r.stderr)
        self.assertNotIn("starting", r.stderr)


    def test_a_leg_that_cannot_start_is_named_with_the_reason(self):
        # A worker that dies at once (a manage.py that exits 3): the leg is reported
        # as not measured, with the process and its last words, and the run exits 1
        # after stopping what it started.
        fake = Path(tempfile.mkdtemp(prefix="sb-bench-consumers-fake-"))
        self.addCleanup(shutil.rmtree, fake, True)
        (fake / "contrib" / "switchboard_django").mkdir(parents=True)
        (fake / "app").mkdir()
        (fake / "app" / "manage.py").write_text("import sys\nprint('worker says no')\nsys.exit(3)\n")
        r = run_bench(["--quick", "--legs", "fast", "--contrib", str(fake / "contrib"), "--django-app", str(fake / "app"),
                 "--out", str(fake / "out")], 120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        line = next(x for x in r.stdout.splitlines() if x.strip().startswith("(a)"))
        self.assertIn("NOT MEASURED, did not start", line)
        self.assertIn("exited with", line)
        stamp = next(x["time"] for x in result_lines(r.stdout) if x.get("consumers_event") == "start")
        self.assertEqual(own_processes(f"consumers-{stamp}.d"), [], "a process of the run outlived it")


class QuickRun(unittest.TestCase):
    def check_run(self, legs, kinds, extra=()):
        out = tempfile.mkdtemp(prefix="sb-bench-consumers-")
        self.addCleanup(shutil.rmtree, out, True)
        r = run_bench(["--quick", "--legs", ",".join(legs), "--out", out, *extra], 280)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        head = next(x for x in r.stdout.splitlines() if x.startswith("figure"))
        for leg in legs:
            self.assertIn(leg, head)
        lines = result_lines(r.stdout)
        stamp = next(x["time"] for x in lines if x.get("consumers_event") == "start")
        self.assertEqual(own_processes(f"consumers-{stamp}.d"), [], "a process of the run outlived it")
        for leg in legs:
            steps = [x for x in lines if x.get("consumers_leg") == leg and x.get("phase") in ("step", "result")]
            parts = {x["consumers_part"] for x in steps}
            # (a) and (d) also fan out from built-in senders on /ws/pub/ (the fan-out alone)
            want = {"rt", "fanout", "pubfanout"} if leg in ("builtin", "fast") else {"rt", "fanout"}
            self.assertEqual(parts, want, f"{leg}: {parts}")
            for x in steps:
                if x["consumers_part"] == "pubfanout":
                    self.assertEqual(x["params"].get("sender_path"), "/ws/pub/", x["params"])
            for x in steps:
                m = x["metrics"]
                self.assertGreater(m["delivered"], 0, f"{leg}: {m}")
                by = m["cpu_us_by_kind"]
                self.assertTrue(set(kinds[leg]) <= set(by), f"{leg}: {by}")
                server = sum(v for k, v in by.items() if k != "bench")
                bench = m["server_cpu_us_per_delivery"] * m["delivered"]
                # Read a moment apart from the bench's own reading (when this script's
                # reader thread gets the line: tens of ms on a busy machine), so each
                # kind may be a clock tick off and the busy servers 150 ms of their
                # CPU rate, but not a step's worth (a step and its drain: 2 s here).
                tick = 1e6 / os.sysconf("SC_CLK_TCK")
                slack = len(by) * tick + 0.15e6 * m["server_cpu_cores"] + 0.02 * bench
                self.assertLessEqual(abs(server - bench), slack,
                                     f"{leg} {x['consumers_part']}: {by} vs the bench's {m}")
        return r, lines

    def test_builtin_and_daphne_legs(self):
        self.check_run(["builtin", "daphne"], {"builtin": ["gateway", "layerd", "redis"],
                                               "daphne": ["daphne", "redis"]})

    @unittest.skipUnless((CONTRIB / "switchboard_django").is_dir(),
                         f"no switchboard_django in {CONTRIB}")
    def test_fast_path_leg_renders_in_the_gateway_and_handler_leg_in_the_worker(self):
        r, lines = self.check_run(["fast", "handler"], {"fast": ["gateway", "layerd", "redis", "worker"],
                                                        "handler": ["gateway", "layerd", "redis", "worker"]},
                                  ["--contrib", str(CONTRIB), "--django-app", str(DJANGO_APP)])
        counters = {x["consumers_leg"]: x["counters"] for x in lines if x.get("consumers_event") == "end"
                    and "consumers_leg" in x}

        def total(leg, name):
            return sum(v for k, v in counters[leg].items() if k.split("{")[0] == name)

        self.assertGreater(total("fast", "switchboard_gateway_worker_events_rendered_total"), 0, counters)
        self.assertEqual(total("fast", "switchboard_gateway_worker_events_forwarded_total"), 0, counters)
        # the handler leg's events reach the worker from the group's layerd
        # (docs/protocol.md, Part 3, Events from the group's owner), not the gateway
        self.assertGreater(total("handler", "switchboard_gateway_worker_events_by_layerd_total"), 0, counters)
        self.assertEqual(total("handler", "switchboard_gateway_worker_events_forwarded_total"), 0, counters)
        self.assertEqual(total("handler", "switchboard_gateway_worker_events_rendered_total"), 0, counters)


if __name__ == "__main__":
    unittest.main()
