"""Explain a capture of a realized network: its call logs merged, every packet attributed, the ladder drawn.

The one analysis path of the raw evidence (``analyze_evidence``: a capture and its call logs): a lab run
after its programs end, grading when it recomputes a key from a student's raw evidence, ``lab.network()``
captures and ``lab up`` sessions (``explain_capture``, which adds the ladder) all go through it, so a
script, a lab, a teacher and a user exploring by hand get the same sentences about the same packets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.records import CallRecord, Coverage, NodeInfo, NodeInterface, PacketRecord

from lab.analysis.attribution import Attributor, coverage
from lab.analysis.attribution.loss import LossRule, find_lost
from lab.analysis.pipeline import AnalysisResult, analyze_capture
from lab.emulation import Network
from lab.paths import RunPaths
from lab.report.hops import link_ends_from, mac_nodes_from
from lab.report.ladder import Lane, ip_nodes_from, render_ladder
from lab.tracing import merge_traces


@dataclass
class Explained:
    """What explaining a capture produced (the files are in the run directory already)."""

    calls: list[CallRecord]
    analysis: AnalysisResult
    coverage: Coverage
    ladder: str


def nodes_info(net: Network) -> dict[str, NodeInfo]:
    """Each node's kind, namespace and interfaces (name, addresses, MAC, peer), as report.json keeps them."""
    info: dict[str, NodeInfo] = {}
    for node in net.nodes:
        ifaces: list[NodeInterface] = [
            {
                "name": i.name,
                "ipv4": getattr(i, "ipv4", None),
                "ipv6": getattr(i, "ipv6", None),
                "mac": getattr(i, "mac", None),
                "peer": getattr(i, "peer_node", None),
            }
            for i in net.interfaces(node)
        ]
        info[node] = {"kind": net.kind(node), "namespace": net.namespace(node), "interfaces": ifaces}
    return info


def analyze_evidence(
    capture: Path,
    traces_dir: Path,
    out_dir: Path,
    nodes_info: Mapping[str, NodeInfo],
    iface_nodes: dict[str, str],
    loss_rules: list[LossRule] | tuple[()] = (),
) -> tuple[AnalysisResult, list[PacketRecord], list[CallRecord]]:
    """The analysis of a run's raw evidence (capture + call logs) into ``out_dir``: (result, packets, calls).

    One code path for the run itself and for grading, which recomputes the key from a run's raw evidence
    into a directory of its own instead of trusting the run's derived files.
    """
    out = RunPaths(out_dir)
    calls = merge_traces(traces_dir, out.calls)
    ip_nodes, macs = ip_nodes_from(nodes_info), mac_nodes_from(nodes_info)
    attributor = Attributor(calls, ip_nodes=ip_nodes, mac_nodes=macs)
    result = analyze_capture(
        capture, out.root, calls=calls, iface_nodes=iface_nodes, progress=False, attributor=attributor
    )
    packets = _read_records(out.packets)
    # copies an emulated lossy link dropped are known only once the whole capture is seen: analyze again
    # with them known, so that their records say so (lost) and no call is said to have read them
    lost = find_lost(packets, nodes_info, loss_rules) if loss_rules else {}
    if lost:
        result = analyze_capture(
            capture,
            out.root,
            calls=calls,
            iface_nodes=iface_nodes,
            progress=False,
            attributor=Attributor(calls, ip_nodes=ip_nodes, mac_nodes=macs, lost=lost),
        )
        packets = _read_records(out.packets)
    return result, packets, calls


def _read_records(path: Path) -> list[PacketRecord]:
    """packets.jsonl as the analysis just wrote it (its writers are the schema's: no check needed here)."""
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def explain_capture(paths: RunPaths, info: Mapping[str, NodeInfo], iface_nodes: dict[str, str], *,
                    title: str, ladder: bool = True,
                    loss_rules: list[LossRule] | tuple[()] = ()) -> Explained:
    """``analyze_evidence`` of ``paths.capture`` and ``paths.traces_dir`` into the same directory, and
    ladder.txt (unless ``ladder`` is False: ``lab watch`` prints its own lines); returns what a caller
    reports (coverage excludes the lab's own probe frames)."""
    result, packets, calls = analyze_evidence(paths.capture, paths.traces_dir, paths.root, info, iface_nodes,
                                              loss_rules)
    ip_nodes, macs = ip_nodes_from(info), mac_nodes_from(info)
    wire = [p for p in packets if p["role"]["code"] != "lab-probe"]
    cov = coverage(p["cause"] for p in wire)
    if not ladder:
        return Explained(calls, result, cov, "")
    lanes = [Lane(n, i["kind"]) for n, i in info.items() if i["kind"] != "switch"]
    text = render_ladder(packets, calls, lanes, macs, ip_nodes=ip_nodes, title=title,
                         links=link_ends_from(info))
    paths.ladder.write_text(text)
    return Explained(calls, result, cov, text)
