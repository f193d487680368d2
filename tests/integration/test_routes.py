# test_routes.py — the gateway's WebSocket route table (--route 'PATTERN KIND',
# docs/operations.md "WebSocket routes"; docs/protocol.md "WebSocket routes").
#
# Real redis-server, layerd and gateways on loopback. A gateway given
# --route serves the built-in consumer at the configured path only (the
# default paths are then 404, counted in /metrics); the same from the
# INI file and from SWITCHBOARD_ROUTE; gateways with different route tables
# put sockets of the same room in the same group (chat_<room>), so they chat
# together. Bad routes in the file or the environment exit 2 with one line.
import os
import re
import subprocess
import unittest
import urllib.parse
from pathlib import Path
from unittest import mock

from harness import (GATEWAY_BIN, Gateway, ProcessTestCase, arun, channel_re, chat_works, free_port,
                     group_key, handshake_status, scrape_metrics, wait_until, websockets)

ROOMS_ROUTE = "/ws/rooms/<room_name>/ chat"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(extra)
    return env


def url(gw: Gateway, path: str) -> str:
    return f"ws://127.0.0.1:{gw.port}{path}"


async def connect(gw: Gateway, path: str):
    return await websockets.connect(url(gw, path), open_timeout=10, ping_interval=None, close_timeout=2)


class Routes(ProcessTestCase):

    def write_config(self, name: str, lines) -> Path:
        path = self.workdir / name
        path.write_text("".join(f"{l}\n" for l in lines))
        return path

    def gateway(self, endpoint: str, args=(), env=None, id="gw") -> Gateway:
        gw = self.own(Gateway([endpoint], extra_args=list(args), id=id, workdir=self.workdir))
        with mock.patch.dict(os.environ, clean_env(**(env or {})), clear=True):
            return gw.start(expect_status=200)

    def test_gateways_with_different_route_tables_serve_and_share_rooms(self):
        redis = self.start_redis()
        ld = self.start_layerd(redis.url)
        cli = self.gateway(ld.endpoint, ["--route", ROOMS_ROUTE], id="gwcli")
        ini = self.gateway(ld.endpoint, ["--config", self.write_config("gateway.ini", [
            "route = /ws/talk/<name>/ chat",
            "route = /ws/alerts/<center_name>/ notification"])], id="gwini")
        env = self.gateway(ld.endpoint, env={"SWITCHBOARD_ROUTE": "/ws/env/<room>/ chat"}, id="gwenv")
        default = self.gateway(ld.endpoint, id="gwdef")

        korean = urllib.parse.quote("로비", safe="")

        async def statuses():
            cases = [
                (cli, "/ws/rooms/lobby/", 101), (cli, f"/ws/rooms/{korean}/", 101),
                (cli, "/ws/rooms/lobby/?x=1", 101),
                (cli, "/ws/chat/lobby/", 404), (cli, "/ws/notification/c1/", 404),
                (cli, "/ws/rooms/a-b/", 404), (cli, "/ws/rooms/lobby/x/", 404),
                (cli, "/ws/rooms/" + "a" * 101 + "/", 404), (cli, "/ws/rooms/" + "a" * 100 + "/", 101),
                (ini, "/ws/talk/lobby/", 101), (ini, "/ws/alerts/c1/", 101),
                (ini, "/ws/chat/lobby/", 404), (ini, "/ws/rooms/lobby/", 404),
                (env, "/ws/env/lobby/", 101), (env, "/ws/chat/lobby/", 404),
                (default, "/ws/chat/lobby/", 101), (default, "/ws/notification/c1/", 101),
                (default, "/ws/rooms/lobby/", 404),
            ]
            for gw, path, want in cases:
                with self.subTest(gateway=gw.name, path=path):
                    self.assertEqual(await handshake_status(url(gw, path)), want)
        arun(statuses(), 120)
        # the 404s above (the replaced default paths among them) are counted like any unknown /ws/ path
        self.assertEqual(scrape_metrics(cli.port)['switchboard_gateway_handshake_refusals_total{reason="not_found"}'], 5)
        # the pages stay: a route table only covers /ws/
        self.assertEqual(wait_until(lambda: cli.healthz(), 10, "healthz")[0], 200)

        async def chat():
            for room, quoted in (("lobby", "lobby"), ("로비", korean)):
                sockets = [await connect(cli, f"/ws/rooms/{quoted}/"), await connect(ini, f"/ws/talk/{quoted}/"),
                           await connect(env, f"/ws/env/{quoted}/"), await connect(default, f"/ws/chat/{quoted}/")]
                try:
                    # one group for the room, whichever path each socket took
                    members = wait_until(lambda: len(redis.cmd("ZRANGE", group_key(room), 0, -1)) == 4 and
                                         redis.cmd("ZRANGE", group_key(room), 0, -1), 10,
                                         f"4 members in {group_key(room)}")
                    got = sorted(re.match(r"specific\.(gw[a-z]+)\.", m.decode()).group(1) for m in members)
                    self.assertEqual(got, ["gwcli", "gwdef", "gwenv", "gwini"])
                    for i, sender in enumerate(sockets):
                        await chat_works(sender, sockets, f"{room}-from-{i}", timeout=10)
                finally:
                    for ws in sockets:
                        await ws.close()

            # the notification consumer at its configured path joins notification_<center>
            ws = await connect(ini, "/ws/alerts/c1/")
            try:
                members = wait_until(lambda: redis.cmd("ZRANGE", "asgi:group:notification_c1", 0, -1), 10,
                                     "a member in asgi:group:notification_c1")
                self.assertRegex(members[0].decode(), channel_re("gwini"))
            finally:
                await ws.close()
        arun(chat(), 120)

    def run_gateway(self, args=(), env=None):
        return subprocess.run([str(GATEWAY_BIN), "--listen", f"127.0.0.1:{free_port()}", *args],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10, text=True,
                              start_new_session=True, env=clean_env(**(env or {})))

    def test_a_bad_route_anywhere_exits_2_with_one_line_naming_it(self):
        bad = "/ws/chat/<room>/ django:no!such"
        for source, args, env in (
                ("command line", ["--route", bad], None),
                ("file", ["--config", self.write_config("bad.ini", [ROOMS_ROUTE.join(["route = ", ""]),
                                                                    f"route = {bad}"])], None),
                ("environment", [], {"SWITCHBOARD_ROUTE": bad})):
            with self.subTest(source=source):
                r = self.run_gateway(args, env)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = [l for l in r.stderr.splitlines() if l.strip()]
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(f"--route '{bad}'", lines[0])
                self.assertIn('django:NAME needs a channel name', lines[0])
        r = self.run_gateway(["--route", ROOMS_ROUTE, "--route", "/ws/rooms/<other>/ notification"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("duplicate pattern", r.stderr)


if __name__ == "__main__":
    unittest.main()
