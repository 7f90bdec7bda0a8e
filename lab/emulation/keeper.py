"""The owner of a network brought up by ``lab up``: builds it, reports, then sleeps until told to stop.

``lab up`` starts this module in its own session; the keeper's pid is the run's owner, so ``lab clean``
leaves the network alone while the keeper lives, and ``lab down`` stops it with SIGTERM (the Network's
handler unwinds and tears everything down). With ``--live-dir`` it also records the session (``lab.live``):
capture on every link from the start, snapshots on SIGUSR1, the final capture before the teardown.
Protocol: one JSON line on stdout, the run's summary or
``{"error": message, "exit_code": n}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

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
    ap.add_argument("--live-dir", default=None)
    ap.add_argument("--no-capture", action="store_true")
    args = ap.parse_args(argv)
    out = sys.stdout
    recorder = None
    daemons = None
    try:
        topo = load_topology(args.topology)
        net = Network(topo, loopback=args.loopback, run_id=args.run_id, keeper=True, live_dir=args.live_dir)
        net.start()
        if args.live_dir:
            from lab.live import Recorder

            recorder = Recorder(net, Path(args.live_dir), capture=not args.no_capture)
            try:
                recorder.start()
            except BaseException:
                net.stop()
                raise
        daemons = _routing_daemons(net, args.live_dir, recorder)
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
        info = summary(net)
        if recorder is not None:
            info["live_dir"] = str(recorder.live.root)
            info["capture"] = recorder.capture_on
        out.write(json.dumps(info) + "\n")
        out.flush()
        out.close()
        while True:
            signal.pause()
            if recorder is not None:
                recorder.serve_once()
    except BaseException:  # SIGTERM unwinds here (Network's handler); SIGINT too
        pass
    finally:
        try:
            if daemons is not None:
                daemons.stop()
        finally:
            try:
                if recorder is not None:
                    recorder.stop()
            finally:
                net.stop()
    return 0


def _routing_daemons(net, live_dir: str | None, recorder):  # noqa: ANN001, ANN202
    """A dynamically routed topology's daemons (``lab.emulation.daemons``) for the whole session.

    Their files go to the session directory when there is one (traced), else to a temporary directory
    removed at the end (untraced); on failure everything already up is stopped and the error propagates.
    """
    if net.topo.routing == "static" or net.loopback:
        return None
    from lab.emulation.daemons import KeptDaemons

    try:
        return KeptDaemons.start(net, Path(live_dir) / "frr" if live_dir else None)
    except BaseException:
        try:
            if recorder is not None:
                recorder.stop()
        finally:
            net.stop()
        raise


if __name__ == "__main__":
    sys.exit(main())
