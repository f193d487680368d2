# Config files and environment overrides of both binaries (docs/operations.md,
# "Config file and environment"):
# `--config PATH` reads an INI file of `key = value` lines named after the
# long options (a repeatable option repeats its key); precedence is command
# line > SWITCHBOARD_<OPTION> environment > file > defaults, and a higher
# source replaces a repeatable option's whole list. An unreadable or
# malformed file is a bad value: one line, exit 2. The example configs in
# deploy/config list every option with its --help default and start as-is
# when uncommented.
import os
import re
import subprocess
import unittest
from pathlib import Path
from unittest import mock

from harness import (GATEWAY_BIN, LAYERD_BIN, REPO, Cluster, Gateway, Layerd, ProcessTestCase,
                     arun, channel_re, free_port, tcp_accepts, wait_until, ws_connect)

EXAMPLES = REPO / "deploy" / "config"


def clean_env(**extra):
    """os.environ without SWITCHBOARD_* variables, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(extra)
    return env


def run_bin(path, *args, env=None, timeout=10):
    if not path.exists():
        raise AssertionError(f"binary not found: {path} (set SB_BIN_DIR)")
    return subprocess.run([str(path), *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, text=True, start_new_session=True, env=env or clean_env())


def nonempty_lines(s: str):
    return [l for l in s.splitlines() if l.strip()]


def help_defaults(path):
    """{option: default or None} from --help (no --help/--version/--config)."""
    out = run_bin(path, "--help").stdout
    opts = {}
    for m in re.finditer(r"^\s+--([a-z0-9-]+) arg(?: \(=([^)]*)\))?", out, re.M):
        if m.group(1) != "config":
            opts[m.group(1)] = m.group(2)
    assert len(opts) >= 5, out
    return opts


def example_settings(path: Path):
    """[(key, value)] of the commented-out `#key = value` lines of an example config."""
    return [(m.group(1), m.group(2).strip())
            for m in re.finditer(r"^#([a-z][a-z0-9-]*) =(.*)$", path.read_text(), re.M)]


class ConfigTestCase(ProcessTestCase):

    def write_config(self, name: str, lines) -> Path:
        path = self.workdir / name
        path.write_text("".join(f"{l}\n" for l in lines))
        return path

    def gateway_from(self, argv_tail, port: int, env=None, expect_status=None, id="gw") -> Gateway:
        """A gateway started with exactly argv_tail (and env), expected to listen on port."""
        gw = self.own(Gateway([], port=port, id=id, workdir=self.workdir))
        gw.argv = [str(GATEWAY_BIN), *map(str, argv_tail)]
        with mock.patch.dict(os.environ, clean_env(**(env or {})), clear=True):
            return gw.start(expect_status=expect_status)

    def layerds_logged(self, gw: Gateway) -> int:
        m = wait_until(lambda: re.search(r"listening address=\S+ .*layerds=(\d+)", gw.log_text()), 10,
                       f"{gw.name}: its listening line")
        return int(m.group(1))


class ConfigFile(ConfigTestCase):

    def test_a_cluster_runs_from_config_files_alone(self):
        redis = self.start_redis()
        layerds = []
        for i in range(2):
            ep = f"tcp://127.0.0.1:{free_port()}"
            cfg = self.write_config(f"layerd{i}.ini", [
                f"bind = {ep}", f"redis = {redis.url}", "prefix = cfgtest", f"id = cfg{i}",
                "log-level = debug"])
            ld = self.own(Layerd(ep, redis.url, id=f"layerd{i}", workdir=self.workdir))
            ld.argv = [str(LAYERD_BIN), "--config", str(cfg)]
            with mock.patch.dict(os.environ, clean_env(), clear=True):
                ld.start()
            layerds.append(ld)
        port = free_port()
        cfg = self.write_config("gateway.ini", [
            "# comments and blank lines are fine", "",
            f"listen = 127.0.0.1:{port}",
            f"layerd = {layerds[0].endpoint}",
            f"layerd = {layerds[1].endpoint}",   # a repeatable option repeats its key
            "id = gwcfg", "log-level = debug"])
        gw = self.gateway_from(["--config", cfg], port, expect_status=200, id="gwcfg")
        self.wait_links_up(Cluster(redis, layerds, [gw]))
        self.assertEqual(self.layerds_logged(gw), 2)

        # the membership lands in the file's Redis under the file's prefix, named after the file's id
        async def body():
            ws = await ws_connect(gw, "cfg")
            try:
                def members():
                    return [m.decode() for m in redis.cmd("ZRANGE", "cfgtest:group:chat_cfg", 0, -1)]
                got = wait_until(members, 10, "the member in cfgtest:group:chat_cfg")
                self.assertEqual(len(got), 1, got)
                self.assertRegex(got[0], channel_re("gwcfg"))
            finally:
                await ws.close()
        arun(body(), 30)

    def test_the_command_line_overrides_the_file(self):
        file_port, cli_port = free_port(), free_port()
        cfg = self.write_config("gateway.ini", [
            f"listen = 127.0.0.1:{file_port}",
            f"layerd = tcp://127.0.0.1:{free_port()}",
            f"layerd = tcp://127.0.0.1:{free_port()}",
            "log-level = info"])
        gw = self.gateway_from(["--config", cfg, "--listen", f"127.0.0.1:{cli_port}",
                                "--layerd", f"tcp://127.0.0.1:{free_port()}"], cli_port)
        self.assertFalse(tcp_accepts(file_port))
        # a repeatable option on the command line replaces the file's list
        self.assertEqual(self.layerds_logged(gw), 1)

    def test_the_environment_overrides_the_file(self):
        file_port, env_port = free_port(), free_port()
        cfg = self.write_config("gateway.ini", [
            f"listen = 127.0.0.1:{file_port}",
            f"layerd = tcp://127.0.0.1:{free_port()}",
            f"layerd = tcp://127.0.0.1:{free_port()}",
            "log-level = warn"])
        gw = self.gateway_from(["--config", cfg], env_port, env={
            "SWITCHBOARD_LISTEN": f"127.0.0.1:{env_port}",
            "SWITCHBOARD_LAYERD": f"tcp://127.0.0.1:{free_port()}",
            "SWITCHBOARD_LOG_LEVEL": "info",
            "SWITCHBOARD_SOMETHING_ELSE": "ignored"})
        self.assertFalse(tcp_accepts(file_port))
        self.assertEqual(self.layerds_logged(gw), 1)   # info from the environment, one layerd

    def test_the_command_line_overrides_the_environment(self):
        file_port, env_port, cli_port = free_port(), free_port(), free_port()
        cfg = self.write_config("gateway.ini", [f"listen = 127.0.0.1:{file_port}",
                                                f"layerd = tcp://127.0.0.1:{free_port()}"])
        self.gateway_from(["--config", cfg, "--listen", f"127.0.0.1:{cli_port}"], cli_port,
                          env={"SWITCHBOARD_LISTEN": f"127.0.0.1:{env_port}"})
        self.assertFalse(tcp_accepts(env_port))
        self.assertFalse(tcp_accepts(file_port))

    def test_the_environment_alone_sets_options(self):
        port = free_port()
        self.gateway_from([], port, env={"SWITCHBOARD_LISTEN": f"127.0.0.1:{port}",
                                         "SWITCHBOARD_LAYERD": f"tcp://127.0.0.1:{free_port()}"})


class Reload(ConfigTestCase):
    """SIGHUP re-reads the config: the log level changes without a restart,
    and a broken file leaves the running settings alone."""

    def test_sighup_applies_a_new_log_level_and_survives_a_broken_file(self):
        import asyncio
        import signal as sig
        import websockets
        redis = self.start_redis()
        lcfg = self.write_config("layerd.ini", [f"redis = {redis.url}", "log-level = warn"])
        layerd = self.own(Layerd(None, redis.url, workdir=self.workdir, id="reload-layerd"))
        layerd.argv = [str(LAYERD_BIN), "--config", str(lcfg), "--bind", layerd.endpoint]
        with mock.patch.dict(os.environ, clean_env(), clear=True):
            layerd.start()
        port = free_port()
        gcfg = self.write_config("gateway.ini", [f"listen = 127.0.0.1:{port}",
                                                 f"layerd = {layerd.endpoint}", "log-level = warn"])
        gw = self.gateway_from(["--config", gcfg], port)
        wait_until(lambda: (gw.healthz() or (0,))[0] == 200, 10, "gateway linked to layerd")

        async def connect_once():
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/chat/lobby/", open_timeout=10)
            await ws.close()

        asyncio.run(connect_once())
        self.assertNotIn("connection open", gw.log_text())
        gcfg.write_text(gcfg.read_text().replace("log-level = warn", "log-level = debug"))
        gw.signal_group(sig.SIGHUP)
        wait_until(lambda: "reloaded log_level=debug" in gw.log_text(), 10, "gateway reloaded")
        asyncio.run(connect_once())
        wait_until(lambda: "connection open" in gw.log_text(), 10, "debug lines after the reload")
        # a broken file on SIGHUP: one warning, still running, still serving
        gcfg.write_text("this is = = not\n[nonsense\n")
        gw.signal_group(sig.SIGHUP)
        wait_until(lambda: "reload failed" in gw.log_text(), 10, "gateway reports the bad file")
        self.assertTrue(gw.alive())
        asyncio.run(connect_once())
        # layerd too: info lines appear after its reload
        self.assertNotIn("gateway joined", layerd.log_text())
        lcfg.write_text(lcfg.read_text().replace("log-level = warn", "log-level = info"))
        layerd.signal_group(sig.SIGHUP)
        wait_until(lambda: "reloaded log_level=info" in layerd.log_text(), 10, "layerd reloaded")
        self.assertTrue(layerd.alive())


class BadConfig(ConfigTestCase):

    def assert_usage_error(self, path, *args, mentions=(), env=None):
        r = run_bin(path, *args, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = nonempty_lines(r.stderr)
        self.assertEqual(len(lines), 1, r.stderr)
        for word in mentions:
            self.assertIn(str(word), lines[0])

    def test_an_unknown_key_exits_2_with_one_line(self):
        for path in (GATEWAY_BIN, LAYERD_BIN):
            with self.subTest(binary=path.name):
                cfg = self.write_config("unknown.ini", ["log-level = info", "no-such-option = 1"])
                self.assert_usage_error(path, "--config", cfg, mentions=[cfg, "no-such-option"])

    def test_a_missing_file_exits_2_with_one_line(self):
        missing = self.workdir / "missing.ini"
        for path in (GATEWAY_BIN, LAYERD_BIN):
            with self.subTest(binary=path.name):
                self.assert_usage_error(path, "--config", missing, mentions=[missing])
                self.assert_usage_error(path, "--config", self.workdir, mentions=[self.workdir])

    def test_a_malformed_file_or_value_exits_2_with_one_line(self):
        cases = [
            (GATEWAY_BIN, ["listen"]),                                   # no '='
            (GATEWAY_BIN, ["listen = 127.0.0.1:1", "listen = 127.0.0.1:2"]),  # not repeatable
            (GATEWAY_BIN, ["threads = many"]),
            (GATEWAY_BIN, ["listen = not-an-address"]),
            (GATEWAY_BIN, ["[gateway]", "listen = 127.0.0.1:1"]),        # no sections
            (GATEWAY_BIN, ["help = 1"]),                                 # command line only
            (GATEWAY_BIN, ["config = other.ini"]),
            (LAYERD_BIN, ["group-expiry = soon"]),
            (LAYERD_BIN, ["log-level = loud"]),
            (LAYERD_BIN, ["redis = http://nope"]),
        ]
        for path, lines in cases:
            with self.subTest(binary=path.name, lines=lines):
                cfg = self.write_config("bad.ini", lines)
                self.assert_usage_error(path, "--config", cfg)

    def test_a_bad_environment_value_exits_2_naming_the_variable(self):
        self.assert_usage_error(GATEWAY_BIN, mentions=["SWITCHBOARD_THREADS"],
                                env=clean_env(SWITCHBOARD_THREADS="many"))
        self.assert_usage_error(LAYERD_BIN, mentions=["SWITCHBOARD_GROUP_EXPIRY"],
                                env=clean_env(SWITCHBOARD_GROUP_EXPIRY="soon"))

    def test_help_works_whatever_the_config(self):
        r = run_bin(GATEWAY_BIN, "--help", "--config", self.workdir / "missing.ini")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--config", r.stdout)


class ExampleConfigs(ConfigTestCase):

    def test_the_examples_list_every_option_with_its_default(self):
        for path, example in ((GATEWAY_BIN, EXAMPLES / "gateway.ini"), (LAYERD_BIN, EXAMPLES / "layerd.ini")):
            with self.subTest(example=example.name):
                settings = dict(example_settings(example))
                for opt, default in help_defaults(path).items():
                    self.assertIn(opt, settings, f"{example.name} does not list {opt}")
                    if default is not None:
                        self.assertEqual(settings[opt], default, f"{example.name}: {opt}")
                # every line of the example is a comment or blank: the defaults stay the binary's
                for line in example.read_text().splitlines():
                    self.assertTrue(not line.strip() or line.startswith("#"), line)

    def uncommented(self, example: Path) -> Path:
        return self.write_config("uncommented-" + example.name,
                                 [f"{k} = {v}" for k, v in example_settings(example)])

    def test_the_gateway_example_starts_when_uncommented(self):
        port = free_port()
        # The example's certificate paths do not exist here: the command
        # line (which wins) turns TLS off again.
        self.gateway_from(["--config", self.uncommented(EXAMPLES / "gateway.ini"),
                           "--listen", f"127.0.0.1:{port}", "--tls-cert", "", "--tls-key", "",
                           "--layerd", f"tcp://127.0.0.1:{free_port()}"], port)

    def test_the_layerd_example_starts_when_uncommented(self):
        ep = f"tcp://127.0.0.1:{free_port()}"
        redis_url = f"redis://127.0.0.1:{free_port()}/0"
        ld = self.own(Layerd(ep, redis_url, workdir=self.workdir))
        ld.argv = [str(LAYERD_BIN), "--config", str(self.uncommented(EXAMPLES / "layerd.ini")),
                   "--bind", ep, "--redis", redis_url]
        with mock.patch.dict(os.environ, clean_env(), clear=True):
            ld.start()
        with self.assertRaises(subprocess.TimeoutExpired):
            ld.proc.wait(timeout=1)


if __name__ == "__main__":
    unittest.main()
