"""The owner of a network brought up by ``lab up``: builds it, reports, then sleeps until told to stop.

``lab up`` starts this module in its own session; the keeper's pid is the run's owner, so ``lab clean``
leaves the network alone while the keeper lives, and ``lab down`` stops it with SIGTERM (the Network's
handler unwinds and tears everything down). Protocol: one JSON line on stdout, the run's summary or
``{"error": message, "exit_code": n}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from lab.errors import LabError


def summary(net) -> dict:
    return {
        "run_id": net.run_id,
        "topology": net.topo.name,
        "source": net.topo.source,
        "mode": "loopback" if net.loopback else "netns",
        "owner_pid": os.getpid(),
        "nodes": [
            {"name": n, "kind": net.kind(n), "namespace": net.namespace(n),
             "interfaces": [{"name": i.name, "ipv4": i.ipv4, "ipv6": i.ipv6, "mac": i.mac,
                             "peer": i.peer_node} for i in net.interfaces(n)],
             "routes": net.routes(n)}
            for n in net.nodes
        ],
        "conditions": net.conditions_report,
    }


def main(argv: list[str] | None = None) -> int:
    from lab.emulation.network import Network
    from lab.topology import load_topology

    ap = argparse.ArgumentParser(prog="lab-keeper")
    ap.add_argument("topology")
    ap.add_argument("--run-id")
    ap.add_argument("--loopback", action="store_true")
    args = ap.parse_args(argv)
    out = sys.stdout
    try:
        topo = load_topology(args.topology)
        net = Network(topo, loopback=args.loopback, run_id=args.run_id, keeper=True)
        net.start()
    except LabError as err:
        out.write(json.dumps({"error": str(err), "exit_code": err.exit_code}) + "\n")
        out.flush()
        return err.exit_code
    except Exception as err:  # a bug or an unexpected OS failure: `lab up` still shows what it was
        problem = f"bring-up failed: {type(err).__name__}: {err}"
        out.write(json.dumps({"error": problem, "exit_code": 1}) + "\n")
        out.flush()
        return 1
    try:
        out.write(json.dumps(summary(net)) + "\n")
        out.flush()
        out.close()
        while True:
            signal.pause()
    except BaseException:  # SIGTERM unwinds here (Network's handler); SIGINT too
        pass
    finally:
        net.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
