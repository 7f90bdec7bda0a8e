"""Packet -> socket call attribution: which call (or which kernel duty) put each packet on the wire.

Exact, not guessed from timestamps: a TCP data segment's sequence range, made relative to its direction's
ISN, is a byte range of the sender's stream; the tracer records every call's running byte offsets, so the
calls whose ``[sent_before, sent_after)`` overlap that range are the ones whose bytes the segment carries
(one call may span many segments; one segment may carry bytes of several calls), and the receiver's calls
whose ``[recv_before, recv_after)`` overlap it are the ones that consumed them. Time is used only to pick
between sockets that reuse the same ports, and to name ACK timing (inside recv(), delayed).

Packets the kernel sends on its own (SYN-ACK, handshake ACK, pure ACKs, retransmissions, RST for a closed
port, ICMP errors, ARP/NDP) get source ``kernel``, the duty that made the kernel send them, and the frame or
call they answer. ``inferred`` and ``unexplained`` are honest failures: they count against coverage.

Division of labour: ``calllog`` indexes the calls, ``tcp``/``datagrams``/``neighbours``/``rawip`` (routing
protocols over raw IP) hold the rules, ``causes`` the shape of a cause and the coverage figure;
``Attributor`` dispatches each packet.

Interface: ``Attributor(calls)`` once per run with all of ``calls.jsonl``; then ``cause(rec)`` for every
packet record (packets.jsonl dict without ``cause``) in capture order, each exactly once. When
``wants_frames`` is true (the call log holds raw-socket calls), pass the captured bytes too,
``cause(rec, frame)``: packets a program built itself are known by their bytes (``crafted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lab.analysis.attribution.calllog import CallLog, norm_ip
from lab.analysis.attribution.causes import EXPLAINED, Call, call_label, coverage, make_cause, packet_time
from lab.analysis.attribution.crafted import CraftedRules
from lab.analysis.attribution.datagrams import DatagramRules
from lab.analysis.attribution.icmp import IcmpRules
from lab.analysis.attribution.igmp import IgmpRules
from lab.analysis.attribution.loss import lost_text
from lab.analysis.attribution.neighbours import NeighbourRules
from lab.analysis.attribution.rawip import RawIpRules
from lab.analysis.attribution.tcp import TcpRules
from lab.identity import packet_identity
from lab.records import Lost, PacketRecord

__all__ = ["EXPLAINED", "Attributor", "call_label", "coverage", "norm_ip"]

COPY_WINDOW_NS = 1_000_000_000  # a forwarded copy crosses the next link within this time
READ_WORDS = ("read by", "received by", "peeked by")  # clauses naming who consumed a packet's bytes


@dataclass
class _Sighting:
    ifaces: set[str]
    cause: dict[str, Any]
    frame: int
    ts: int


class Attributor:
    """Attribute packets of one run to the calls in its call log (see the package docstring)."""

    def __init__(
        self,
        calls: Iterable[Call],
        *,
        ip_nodes: dict[str, str] | None = None,
        mac_nodes: dict[str, str] | None = None,
        lost: Mapping[int, Lost] | None = None,
    ) -> None:
        """``ip_nodes``/``mac_nodes`` (from the topology, when known) name the node behind an address the
        call log never shows, such as an IPv6 link-local source of the kernel's own packets. ``lost``
        (frame -> ``lost`` record, from ``loss.find_lost`` on a first analysis) marks the copies an
        emulated lossy link dropped: their record gets ``lost`` and their cause says so, and names no
        call as having read bytes that never arrived."""
        self.log = CallLog(calls, ip_nodes=ip_nodes, mac_nodes=mac_nodes)
        self.tcp = TcpRules(self.log)
        self.datagrams = DatagramRules(self.log)
        self.neighbours = NeighbourRules(self.log)
        self.icmp = IcmpRules(self.log)
        self.igmp = IgmpRules(self.log)
        self.raw_ip = RawIpRules(self.log)
        self.crafted = CraftedRules(self.log)
        self.wants_frames = self.crafted.wants_frames
        self._sightings: dict[tuple[Any, ...], _Sighting] = {}
        self._count = 0
        self.lost = dict(lost) if lost is not None else {}

    def cause(self, rec: PacketRecord, frame: bytes | None = None) -> dict[str, Any]:
        """The cause of one packet; a packet already seen on another link (forwarded) keeps that cause.

        Rules run for every sighting (they keep per-link state), but the cause of a forwarded copy is the
        one decided where the packet was first seen: a retransmission stays a retransmission on every hop.
        A lost copy (``lost``) also gets ``rec["lost"]``. ``frame``: the captured bytes, when
        ``wants_frames``. ``rec`` is the record as the pipeline builds it: every key of ``PacketRecord``
        but ``cause`` (this decides it), read directly where the schema requires the key.
        """
        cause = self._sighting(rec, frame)
        lost = self.lost.get(rec["number"]) if self.lost else None
        if lost is None:
            return cause
        rec["lost"] = Lost(**lost)  # a copy: the record is written, the table stays as find_lost built it
        kept = [part for part in cause["text"].split("; ") if not part.startswith(READ_WORDS)]
        ip = rec["ip"]
        dst = self.log.node_of(ip["dst"] if ip is not None else None)
        out = {k: v for k, v in cause.items() if k not in ("consumed_by", "peeked_by")}
        out["text"] = "; ".join([*kept, lost_text(lost, dst)])
        return out

    def _sighting(self, rec: PacketRecord, frame: bytes | None) -> dict[str, Any]:
        cause = self._rules(rec)
        if frame is not None:  # the protocol rules ran first: their state saw the packet either way
            cause = self.crafted.refine(rec, frame, cause)
        key = packet_identity(rec)
        if key is None:
            return cause
        iface, ts = rec["interface"], packet_time(rec)
        seen = self._sightings.get(key)
        if seen is None or iface in seen.ifaces or ts - seen.ts > COPY_WINDOW_NS:
            # first sighting, or the same bytes again on a link that already saw them: a new event
            self._sightings[key] = _Sighting({iface}, cause, rec["number"], ts)
            self._prune(ts)
            self.icmp.remember(rec, cause)  # an ICMP error quoting this packet will name it
            return cause
        seen.ifaces.add(iface)
        self.icmp.remember(rec, seen.cause)
        return {
            **seen.cause,
            "copy_of": seen.frame,
            "text": f"{seen.cause['text']} (forwarded: the same packet as frame {seen.frame})",
        }

    def _prune(self, ts: int) -> None:
        self._count += 1
        if self._count % 4096 == 0:
            self._sightings = {k: v for k, v in self._sightings.items() if ts - v.ts <= COPY_WINDOW_NS}

    def _rules(self, rec: PacketRecord) -> dict[str, Any]:
        role = rec["role"]["code"]
        if role == "lab-probe":
            return make_cause("lab", "lab-probe", "the lab's capture-readiness probe (not network traffic)")
        ip = rec["ip"]
        try:
            if rec["tcp"]:
                return self.tcp.cause(rec)
            if rec["udp"] or (ip is not None and ip["proto"] == 17 and ip["frag"]):
                return self.igmp.datagram(rec) or self.datagrams.cause(rec)
            if rec["arp"]:
                return self.neighbours.arp(rec)
            if rec["icmp"]:
                return self.icmp.cause(rec) or self.neighbours.icmp(rec)
            if rec.get("routing"):  # only a routing protocol's packet has the key
                return self.raw_ip.cause(rec)
        finally:
            self.neighbours.remember(rec)
        if role == "igmp" and (found := self.igmp.cause(rec)):
            return found
        if role == "igmp":
            return make_cause("kernel", "igmp", "kernel multicast group membership report/query (IGMP)")
        if role in ("ospf", "eigrp"):
            return make_cause("inferred", f"{role}-send",
                              f"a routing daemon's {role.upper()} message (no call log for it)")
        return make_cause("unexplained", "unknown", f"no rule explains a {role} packet")
