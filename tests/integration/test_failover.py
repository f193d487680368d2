# Nothing lost on failover: a layerd killed with SIGKILL under traffic costs
# the chat a pause, not messages. 2 layerds, 2 gateways, 20 rooms, in each a
# sender sending a numbered message every 50 ms and a receiver on each
# gateway; layerd0 is killed mid-traffic. Every receiver (the sender's own
# socket included) must get every message exactly once and in order: the
# gateways keep each group_send until its layerd acknowledges it, re-send
# the unacknowledged ones to the new owner, and drop duplicates
# (docs/protocol.md, "Acknowledged group_sends"). The scenario is
# bench/failover.py's, which also prints the recovery time for
# bench/RESULTS.md. Real processes and sockets on loopback.
import sys
import unittest

from harness import REPO, ProcessTestCase

sys.path.insert(0, str(REPO / "bench"))
from failover import run_failover  # noqa: E402


class Failover(ProcessTestCase):

    def test_a_killed_layerd_loses_no_message_and_duplicates_none(self):
        r = run_failover(self, rooms=20, interval=0.05, before=2.0, after=4.0, drain=20.0)
        summary = {k: v for k, v in r.items() if not k.startswith("_")}
        problems = []
        for room, sent in r["_sent"].items():
            for who in ("sender", "gw0", "gw1"):
                got = [n for n, _ in r["_got"].get((room, who), [])]
                if got != sent:
                    missing = sorted(set(sent) - set(got))
                    problems.append(f"{room}/{who}: {len(got)} of {len(sent)}, missing {missing[:10]}, "
                                    f"first 20 out of place {[n for i, n in enumerate(got) if i >= len(sent) or sent[i] != n][:20]}")
        self.assertEqual(problems, [], f"{summary}\n" + "\n".join(problems[:20]))
        self.assertEqual((summary["lost"], summary["duplicates"], summary["reordered"]), (0, 0, 0), summary)
        sys.stderr.write(f"\nfailover: {summary}\n")


if __name__ == "__main__":
    unittest.main()
