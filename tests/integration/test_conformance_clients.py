# RFC 6455 conformance, part two: independent client libraries doing a real
# chat round trip against a live gateway (Unicode, 70,000-byte messages,
# close 1009 for an oversize message) — Python `websockets` (with and
# without permessage-deflate), Node's `ws` (tests/conformance/ws_client.js,
# Debian's node-ws) and Boost.Beast's client (tests/conformance/
# beast_client.cpp, built as build/bin/sb_beast_ws_client) — and the frame
# rules of test_conformance.py again over TLS (--tls-cert): one frame layer,
# two transports.
#
# Every subprocess has a timeout; every read a deadline.
import asyncio
import json
import os
import shutil
import subprocess
import unittest

import websockets.exceptions

import test_conformance as plain  # the frame-rule cases, run again over TLS
from conformance_peer import *  # noqa: F401,F403
from harness import Clients, arun, make_self_signed, recv_until, send_msg  # noqa: F401


# --------------------------------------------------------------------------
# independent client libraries

async def run_client(argv, env=None, timeout: float = CLIENT_TIMEOUT):
    """Runs a client program; returns (exit status, stdout lines, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish within {timeout}s")
    return proc.returncode, out.decode(errors="replace").splitlines(), err.decode(errors="replace")


class ClientLibraries(LiveGatewayCase):
    """Python websockets, Node ws and Boost.Beast clients against the gateway."""

    def py_echo(self, gw, **kw):
        async def body():
            async with Clients() as cl:
                room = self.room()
                ws = await cl.connect(gw, room, **kw)
                bystander = await cl.connect(gw, room)
                self.assertEqual(ws.extensions, [], "an extension was negotiated")
                self.assertNotIn("Sec-WebSocket-Extensions", ws.response_headers)
                for m in MESSAGES:
                    await send_msg(ws, m)
                    for w in (ws, bystander):
                        await recv_until(w, lambda x, m=m: x.get("message") == m, 10)
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
        arun(body(), 40)

    def test_python_websockets_offering_permessage_deflate_still_works(self):
        self.py_echo(self.live(BIG))   # websockets offers permessage-deflate by default

    def test_python_websockets_without_compression(self):
        self.py_echo(self.live(BIG), compression=None)

    def test_python_websockets_a_100_kb_message(self):
        gw = self.live(BIG)

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, self.room())
                # 100,000 bytes of ASCII, then 100,000 bytes of 2-byte UTF-8 sent
                # unescaped (json.dumps' default \u00fc would make it 300 KB).
                for m in ("x" * 100_000, "ü" * 50_000):
                    await ws.send(json.dumps({"message": m}, ensure_ascii=False))
                    await recv_until(ws, lambda x, m=m: x.get("message") == m, 10)
        arun(body(), 30)

    def test_python_websockets_oversize_gets_1009(self):
        gw = self.live(SMALL)

        async def body():
            async with Clients() as cl:
                ws = await cl.connect(gw, self.room())
                with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                    await send_msg(ws, "x" * 2000)
                code, _ = await expect_close(ws, READ_TIMEOUT)
                self.assertEqual(code, 1009)
        arun(body(), 30)

    # ---- Node ws and Boost.Beast: echo (with a bystander checking the content), ping, oversize

    def node_argv(self, url, scenario):
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None or not os.path.isdir(os.path.join(NODE_PATH, "ws")):
            self.fail("needs Debian's nodejs and node-ws (apt-get install -y nodejs node-ws)")
        return [node, NODE_CLIENT, url, scenario]

    def beast_argv(self, url, scenario):
        if not BEAST_CLIENT.exists():
            self.fail(f"{BEAST_CLIENT} not built (cmake --build build --target sb_beast_ws_client)")
        return [BEAST_CLIENT, url, scenario]

    def run_scenario(self, argv_for, gw, scenario, bystander_gets=()):
        env = dict(os.environ, NODE_PATH=NODE_PATH)

        async def body():
            async with Clients() as cl:
                room = self.room()
                bystander = await cl.connect(gw, room)
                rc, lines, err = await run_client(argv_for(gw.ws_url(room), scenario), env=env)
                self.assertEqual((rc, lines[-1:]), (0, ["DONE"]), f"stdout {lines!r}\nstderr {err[-2000:]}")
                for m in bystander_gets:
                    await recv_until(bystander, lambda x, m=m: x.get("message") == m, 10)
                return lines
        return arun(body(), CLIENT_TIMEOUT + 15)

    def check_echo(self, lines):
        for i, m in enumerate(MESSAGES):
            self.assertIn(f"ECHO {i} {len(m.encode())} OK", lines)
        self.assertIn("CLOSE 1000", lines)

    def test_node_ws_echo(self):
        gw = self.live(BIG)
        lines = self.run_scenario(self.node_argv, gw, "echo", MESSAGES)
        self.check_echo(lines)
        self.assertIn('OPEN extensions=""', lines)   # permessage-deflate offered, not negotiated

    def test_node_ws_ping(self):
        gw = self.live(SMALL)
        lines = self.run_scenario(self.node_argv, gw, "ping")
        self.assertIn("PONG " + "node-ping-€".encode().hex() + " OK", lines)

    def test_node_ws_oversize_gets_1009(self):
        gw = self.live(SMALL)
        self.assertIn("CLOSE 1009", self.run_scenario(self.node_argv, gw, "oversize"))

    def test_beast_echo(self):
        gw = self.live(BIG)
        self.check_echo(self.run_scenario(self.beast_argv, gw, "echo", MESSAGES))

    def test_beast_ping(self):
        gw = self.live(SMALL)
        lines = self.run_scenario(self.beast_argv, gw, "ping")
        self.assertIn("PONG " + "beast-ping-€".encode().hex() + " OK", lines)

    def test_beast_oversize_gets_1009(self):
        gw = self.live(SMALL)
        self.assertIn("CLOSE 1009", self.run_scenario(self.beast_argv, gw, "oversize"))


# --------------------------------------------------------------------------
# the same frame rules over TLS (--tls-cert): one frame layer, two transports

class OverTls:
    """Mixin: the gateway serves wss (a self-signed certificate made for the
    test); the raw peer speaks the same hand-built frames inside TLS."""

    def live(self, args=()):
        if not shutil.which("openssl"):
            self.skipTest("needs the openssl command")
        cert, key = make_self_signed(self.workdir, "conformance")
        redis = self.start_redis()
        layerd = self.start_layerd(redis.url)
        gw = self.start_gateway([layerd.endpoint], extra_args=list(args), tls=(cert, key))
        self.addCleanup(lambda: gw.check_alive("the end of the test"))
        return gw


class FrameViolationsOverTls(OverTls, plain.FrameViolations):
    pass


class Utf8OverTls(OverTls, plain.Utf8):
    pass


class CloseHandshakeOverTls(OverTls, plain.CloseHandshake):
    pass


class MessageSizeOverTls(OverTls, plain.MessageSize):
    pass


class ValidTrafficOverTls(OverTls, plain.ValidTraffic):
    pass


if __name__ == "__main__":
    unittest.main()
