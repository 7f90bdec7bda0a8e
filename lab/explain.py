"""Explain a capture of a realized network: its call logs merged, every packet attributed, the ladder drawn.

What a lab run does after its programs end, without the lab's own parts (steps, expected observations,
questions): ``lab.network()`` captures (and, later, a network brought up by hand) explain their packets
through this one function, so a script and a lab say the same sentences about the same packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.analysis.attribution import Attributor, coverage
from lab.analysis.pipeline import AnalysisResult, analyze_capture
from lab.emulation import Network
from lab.paths import RunPaths
from lab.report.hops import link_ends_from
from lab.report.ladder import Lane, ip_nodes_from, render_ladder
from lab.tracing import merge_traces


@dataclass
class Explained:
    """What explaining a capture produced (the files are in the run directory already)."""

    calls: list[dict[str, Any]]
    analysis: AnalysisResult
    coverage: dict[str, Any]
    ladder: str


def nodes_info(net: Network) -> dict[str, dict[str, Any]]:
    """Each node's kind, namespace and interfaces (name, addresses, MAC, peer), as report.json keeps them."""
    info: dict[str, dict[str, Any]] = {}
    for node in net.nodes:
        ifaces = [
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


def mac_nodes(info: dict[str, dict[str, Any]]) -> dict[str, str]:
    """MAC -> node, for MACs that name one node only (loopback interfaces all share 00:00:00:00:00:00)."""
    owners: dict[str, set[str]] = {}
    for node, node_info in info.items():
        for iface in node_info["interfaces"]:
            if iface.get("mac"):
                owners.setdefault(iface["mac"].lower(), set()).add(node)
    return {mac: next(iter(nodes)) for mac, nodes in owners.items() if len(nodes) == 1 and mac.strip("0:")}


def explain_capture(paths: RunPaths, info: dict[str, dict[str, Any]], iface_nodes: dict[str, str], *,
                    title: str, ladder: bool = True) -> Explained:
    """Merge ``paths.traces_dir`` into calls.jsonl, attribute and annotate ``paths.capture``, write
    ladder.txt (unless ``ladder`` is False: ``lab watch`` prints its own lines); returns what a caller
    reports (coverage excludes the lab's own probe frames)."""
    calls = merge_traces(paths.traces_dir, paths.calls)
    ip_nodes, macs = ip_nodes_from(info), mac_nodes(info)
    attributor = Attributor(calls, ip_nodes=ip_nodes, mac_nodes=macs)
    result = analyze_capture(paths.capture, paths.root, calls=calls, iface_nodes=iface_nodes,
                             progress=False, attributor=attributor)
    from lab.runs import Run

    packets = [p.record for p in Run(paths.root).packets]
    wire = [p for p in packets if p["role"]["code"] != "lab-probe"]
    cov = coverage(p["cause"] for p in wire)
    if not ladder:
        return Explained(calls, result, cov, "")
    lanes = [Lane(n, i["kind"]) for n, i in info.items() if i["kind"] != "switch"]
    text = render_ladder(packets, calls, lanes, macs, ip_nodes=ip_nodes, title=title,
                         links=link_ends_from(info))
    paths.ladder.write_text(text)
    return Explained(calls, result, cov, text)
