# test_service_notify.py — systemd readiness (Type=notify) without systemd.
#
# The test plays systemd's part: it binds a unix datagram socket, starts
# layerd and a gateway with NOTIFY_SOCKET pointing at it, and expects
# READY=1 once each serves and STOPPING=1 when each is told to stop.
import os
import signal
import socket
import unittest

from harness import Gateway, Layerd, ProcessTestCase, free_port


class ServiceNotify(ProcessTestCase):
    def listen(self):
        path = str(self.workdir / f"notify-{os.urandom(4).hex()}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        self.addCleanup(sock.close)
        return sock, path

    def expect(self, sock, word):
        for _ in range(20):  # bounded: other lines (STATUS=...) may come first
            msg = sock.recv(4096).decode()
            if word in msg.split("\n"):
                return msg
        self.fail(f"no {word} from the daemon")

    def test_layerd_and_gateway_say_ready_and_stopping(self):
        redis = self.start_redis()
        sock, path = self.listen()
        os.environ["NOTIFY_SOCKET"] = path
        try:
            layerd = self.start_layerd(redis.url)
            self.expect(sock, "READY=1")
            gw = self.start_gateway([layerd.endpoint])
            msg = self.expect(sock, "READY=1")
            self.assertIn("STATUS=serving 127.0.0.1:", msg)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        gw.signal_group(signal.SIGTERM)
        self.expect(sock, "STOPPING=1")
        layerd.signal_group(signal.SIGTERM)
        self.expect(sock, "STOPPING=1")


if __name__ == "__main__":
    unittest.main()
