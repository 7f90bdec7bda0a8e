"""Kernel-only packets outside TCP and UDP: ARP and NDP resolution, ICMP errors and echo replies, MLD.

Neighbour resolution is triggered by the first packet towards a next hop: the call that sent it is named
(the packet waits in the kernel's queue for the reply). An ICMP error answers the packet it quotes.
"""

from __future__ import annotations

from typing import Any

from lab.analysis.attribution.calllog import CallLog, norm_host, norm_ip
from lab.analysis.attribution.causes import call_label, make_cause, packet_time
from lab.records import PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
ICMP_ERRORS = {4: {3, 4, 5, 11, 12}, 6: {1, 2, 3, 4}}


class NeighbourRules:
    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.last_by_flow: dict[tuple[Any, ...], int] = {}
        self._arp_requests: dict[tuple[str, str], int] = {}
        self._echo_requests: dict[tuple[str, str], int] = {}
        self._ns_frames: dict[str, int] = {}

    def remember(self, rec: Rec) -> None:
        """The last frame of each flow, so that an ICMP error can name the frame it answers."""
        ip = rec["ip"]
        l4 = rec["tcp"] or rec["udp"]
        if ip is not None and l4 is not None:
            key = (norm_ip(ip["src"]), norm_ip(ip["dst"]), ip["proto"], l4["sport"], l4["dport"])
            self.last_by_flow[key] = rec["number"]
            self.last_by_flow[key[:3]] = rec["number"]

    def arp(self, rec: Rec) -> dict[str, Any]:
        arp, frame = rec["arp"], rec["number"]
        if arp is None:  # the dispatcher sends only ARP records here
            raise ValueError(f"frame {frame}: not an ARP packet")
        spa, tpa = arp["sender_ip"], arp["target_ip"]
        node = self.log.node_of(spa, arp["sender_mac"])
        if arp["op"] == 2:
            req = self._arp_requests.get((tpa, spa))
            return make_cause(
                "kernel",
                "arp-reply",
                f"kernel ({node}) answers ARP request"
                + (f" frame {req}" if req else "")
                + f": {spa} is at {arp['sender_mac']}",
                answers=req,
                node=node,
            )
        self._arp_requests[(spa, tpa)] = frame
        if spa == tpa:
            return make_cause(
                "kernel", "arp-gratuitous", f"kernel ({node}) gratuitous ARP for {spa}", node=node
            )
        trigger = self.log.trigger(node, spa, tpa, packet_time(rec))
        eth = rec["eth"]
        unicast = eth is not None and eth["dst"] != "ff:ff:ff:ff:ff:ff"
        kind = "re-checks a stale neighbour entry (unicast probe)" if unicast else "resolves the neighbour"
        if unicast:
            why = ""
        elif trigger:
            why = f", triggered by the first packet of {call_label(trigger)} (it waits for the reply)"
        elif node not in self.log.traced_nodes:
            why = ", to forward a packet towards it (no program runs there: it routes)"
        else:
            why = ""
        return make_cause(
            "kernel",
            "arp-request",
            f"kernel ({node}) {kind} {tpa}{why}",
            [trigger] if trigger and not unicast else [],
            node=node,
        )

    def icmp(self, rec: Rec) -> dict[str, Any]:
        icmp, ip, eth = rec["icmp"], rec["ip"], rec["eth"]
        if icmp is None:  # the dispatcher sends only ICMP records here
            raise ValueError(f"frame {rec['number']}: not an ICMP packet")
        version, itype = icmp["version"], icmp["type"]
        src, dst = (norm_host(ip["src"]), norm_host(ip["dst"])) if ip is not None else ("", "")
        node = self.log.node_of(src, eth["src"] if eth is not None else None)
        name = icmp["name"] or f"type {itype}"
        if itype in ICMP_ERRORS.get(version, set()):
            q = icmp.get("quoted")  # absent or null: the error quoted too little to tell
            key = (
                (norm_ip(q["src"]), norm_ip(q["dst"]), q["proto"], q.get("sport"), q.get("dport"))
                if q
                else (None, None, None, None, None)
            )
            answered = self.last_by_flow.get(key) or self.last_by_flow.get(key[:3])
            return make_cause(
                "kernel",
                "icmp-error",
                f"kernel ({node}) ICMP {name}: answers frame {answered}"
                if answered
                else f"kernel ({node}) ICMP {name} (the quoted packet was not captured)",
                answers=answered,
                node=node,
            )
        if (version, itype) in ((4, 8), (6, 128)):
            self._echo_requests[(src, dst)] = rec["number"]
            return make_cause("inferred", "icmp-echo-request", f"echo request from {node} (ping; not traced)")
        if (version, itype) in ((4, 0), (6, 129)):
            req = self._echo_requests.get((dst, src))
            return make_cause(
                "kernel",
                "icmp-echo-reply",
                f"kernel ({node}) answers echo request" + (f" frame {req}" if req else ""),
                answers=req,
                node=node,
            )
        if version == 6 and itype == 135:
            # the record has no field for the solicitation's target address (ICMP in lab.records): its
            # destination, the target's solicited-node multicast address, stands for it
            target = dst
            if src in ("::", ""):
                return make_cause("kernel", "ndp-dad", f"kernel duplicate address detection for {target}")
            self._ns_frames[src] = rec["number"]
            trigger = self.log.trigger(node, src, target, packet_time(rec))
            why = f", triggered by {call_label(trigger)}" if trigger else ""
            return make_cause(
                "kernel",
                "ndp-ns",
                f"kernel ({node}) neighbour solicitation{why}",
                [trigger] if trigger else [],
                node=node,
            )
        if version == 6 and itype == 136:
            req = self._ns_frames.get(dst)
            return make_cause(
                "kernel",
                "ndp-na",
                f"kernel ({node}) neighbour advertisement" + (f" answering frame {req}" if req else ""),
                answers=req,
                node=node,
            )
        if version == 6 and itype == 133:
            return make_cause(
                "kernel", "ndp-rs", f"kernel ({node}) asks for IPv6 routers when its interface comes up "
                f"(router solicitation; no program asked)"
            )
        if version == 6 and itype == 134:
            return make_cause("kernel", "ndp-ra", f"router advertisement from {node}")
        if version == 6 and itype in (130, 131, 132, 143):
            return make_cause(
                "kernel",
                "mld",
                f"kernel ({node}) reports its multicast listening (MLD) when the interface comes up: the "
                f"groups of its addresses, which neighbour discovery needs (IPv6 requires it; no program "
                f"asked)",
            )
        return make_cause("unexplained", "icmp-other", f"ICMP {name} from {node}: no rule explains it")
