"""IGMP and IPv4 multicast datagrams: which call joined or left a group, and who got each datagram.

- A membership report that *changes* state (IGMPv3 record CHANGE_TO_EXCLUDE_MODE with no sources, or an
  IGMPv2 report: a join; CHANGE_TO_INCLUDE_MODE with no sources, or IGMPv2 leave: a leave) is the doing
  of the call that changed the node's membership: setsockopt(IP_ADD_MEMBERSHIP) for a join,
  setsockopt(IP_DROP_MEMBERSHIP) — or close()/exit of a socket that had joined — for a leave. The kernel
  sends each such report several times (the robustness variable, 2 by default, spaced by the unsolicited
  report interval); the later copies are the kernel's repeats of the first.
- A current-state record (MODE_IS_EXCLUDE/INCLUDE) answers a membership query; a query comes from a
  querier (a multicast router or a bridge configured as one).
- A UDP datagram to a group is one sendto(); every socket that joined the group and read it is named
  (a multicast datagram has as many receivers as members, unlike a unicast one).

``cause`` and ``datagram`` return None for what they leave to the other rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from lab.analysis.attribution.calllog import TOL_NS, CallLog, Socket, args_of, endpoint, norm_host
from lab.analysis.attribution.causes import Call, call_label, make_cause, packet_time
from lab.analysis.attribution.datagrams import Claims, earliest_fit
from lab.records import Datagram, PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
ADD, DROP = "IP_ADD_MEMBERSHIP", "IP_DROP_MEMBERSHIP"
ADDS, DROPS = (ADD, "MCAST_JOIN_GROUP"), (DROP, "MCAST_LEAVE_GROUP")  # the second: RFC 3678, FRR's daemons
_STRACE_GROUP = re.compile(r'(?:imr_multiaddr=|gr_group=\{[^}]*sin_addr=)inet_addr\("([0-9.]+)"\)')
JOIN_RECORD, LEAVE_RECORD = 4, 3  # CHANGE_TO_EXCLUDE_MODE, CHANGE_TO_INCLUDE_MODE
V2_REPORT, V2_LEAVE, V1_REPORT, QUERY = 0x16, 0x17, 0x12, 0x11
ALL_SNOOPERS = "224.0.0.106"


def is_multicast(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.IPv4Address(ip).is_multicast
    except ValueError:
        return False


def _group_of(call: Call) -> str | None:
    """The group of an IP_ADD/DROP_MEMBERSHIP (or MCAST_JOIN/LEAVE_GROUP) setsockopt: the first 4 bytes of
    its ip_mreq(n) as the Python tracer records them, or the address in strace's decoding of the struct
    (``imr_multiaddr=inet_addr("224.0.0.5")``; ``gr_group={... sin_addr=inet_addr("224.0.0.5")}``)."""
    args = args_of(call)
    if str(args.get("optname")) not in (*ADDS, *DROPS) or call.get("error") or call.get("exception"):
        return None
    value = args.get("value")
    if isinstance(value, str) and (m := _STRACE_GROUP.search(value)):
        return m[1]
    if isinstance(value, str) and len(value) >= 8:
        try:
            return str(ipaddress.IPv4Address(bytes.fromhex(value[:8])))
        except ValueError:
            return None
    return None


class IgmpRules:
    """Membership events from the call log, matched to IGMP reports and multicast datagrams."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        # (node, group) -> the calls that joined / left, in time order
        self.joins: dict[tuple[str, str], list[Call]] = {}
        self.leaves: dict[tuple[str, str], list[Call]] = {}
        self.members: dict[str, list[Socket]] = {}  # group -> sockets that joined it
        for sock in log.socks.values():
            joined: list[str] = []
            for call in sock.calls:
                group = _group_of(call) if call["call"] == "setsockopt" else None
                if group and str(call["args"]["optname"]) in ADDS:
                    self.joins.setdefault((sock.node, group), []).append(call)
                    self.members.setdefault(group, []).append(sock)
                    joined.append(group)
                elif group:
                    self.leaves.setdefault((sock.node, group), []).append(call)
                    joined = [g for g in joined if g != group]
                elif call["call"] in ("close", "exit") and joined and not call.get("error"):
                    if args_of(call).get("last_ref") is False:
                        continue
                    for g in joined:
                        self.leaves.setdefault((sock.node, g), []).append(call)
                    joined = []
        for calls in (*self.joins.values(), *self.leaves.values()):
            calls.sort(key=lambda c: c["t_start_ns"])
        self._claimed = Claims()
        self._first: dict[tuple[str, str, str], int] = {}  # (node, group, join|leave) -> first report

    # -- IGMP ----------------------------------------------------------------------------------------
    def cause(self, rec: Rec) -> dict[str, Any] | None:
        igmp = rec.get("igmp")  # absent: not IGMP, or a message too short to read
        if not igmp:
            return None
        ip, eth = rec["ip"], rec["eth"]
        src = norm_host(ip["src"]) if ip is not None else ""
        mac = eth["src"] if eth is not None else None
        node = self.log.node_of(src, mac)
        if igmp["type"] == QUERY:
            return make_cause(
                "kernel",
                "igmp-query",
                f"kernel ({node}) asks which groups have members (IGMPv{igmp.get('version')} membership "
                f"query{' for ' + igmp['group'] if igmp.get('group') not in (None, '0.0.0.0') else ''}): "
                f"{node} acts as querier",
                node=node,
            )
        events = self._events(igmp)
        if not events:
            return None
        if src == "0.0.0.0" and [g for _k, g in events] == [ALL_SNOOPERS]:
            return make_cause(
                "kernel",
                "igmp-snooper",
                f"kernel of the switch's bridge device ({mac}; source 0.0.0.0: "
                f"it has no IPv4 address) joins {ALL_SNOOPERS}, the all-snoopers group (RFC 4286): a bridge "
                "that snoops IGMP listens there for multicast router advertisements",
            )
        parts = [self._event(rec, node, kind, group) for kind, group in events]
        calls = [c for _t, c, _r in parts if c is not None]
        text = "; ".join(t for t, _c, _r in parts)
        rules = [r for _t, _c, r in parts]
        rule = next((r for r in rules if r in ("igmp-join", "igmp-leave")), rules[0])
        source = "call" if rule in ("igmp-join", "igmp-leave") else "kernel"
        return make_cause(source, rule, text, calls, node=node)

    @staticmethod
    def _events(igmp: dict[str, Any]) -> list[tuple[str, str]]:
        """(join|leave|current, group) for each group the message reports."""
        if igmp["type"] in (V2_REPORT, V1_REPORT):
            return [("join", igmp["group"])]
        if igmp["type"] == V2_LEAVE:
            return [("leave", igmp["group"])]
        out: list[tuple[str, str]] = []
        records = igmp.get("records")  # an IGMPv3 report's group records; other messages have none
        for record in records if records is not None else ():
            if record["type"] == JOIN_RECORD and not record["sources"]:
                out.append(("join", record["group"]))
            elif record["type"] == LEAVE_RECORD and not record["sources"]:
                out.append(("leave", record["group"]))
            elif record["type"] in (1, 2):
                out.append(("current", record["group"]))
        return out

    def _event(self, rec: Rec, node: str, kind: str, group: str) -> tuple[str, Call | None, str]:
        """(text, call, rule) for one reported membership change of ``node``."""
        if kind == "current":
            return (
                f"kernel ({node}) reports its membership of {group} (current state: answers a query)",
                None,
                "igmp-current-state",
            )
        table = self.joins if kind == "join" else self.leaves
        iface, ts = rec["interface"], packet_time(rec)
        fresh = [
            c
            for c in table.get((node, group), [])
            if c["t_start_ns"] <= ts + TOL_NS and (iface, c["id"]) not in self._claimed
        ]
        done = [c for c in table.get((node, group), []) if (iface, c["id"]) in self._claimed]
        key = (node, group, kind)
        if fresh and (not done or fresh[0]["t_start_ns"] > done[-1]["t_start_ns"]):
            call = fresh[0]
            self._claimed.add((iface, call["id"]))
            self._first[key] = rec["number"]
            how = self._how(call, kind)
            return (
                f"{call_label(call)}{how}: {node}'s kernel reports that it "
                f"{'joins' if kind == 'join' else 'leaves'} {group}",
                call,
                f"igmp-{kind}",
            )
        if done:
            first = self._first.get(key)
            return (
                f"kernel ({node}) repeats its report that it {'joined' if kind == 'join' else 'left'} {group}"
                + (f" (first sent as frame {first})" if first else "")
                + ": unsolicited reports go out robustness-variable times (2 by default)",
                done[-1],
                f"igmp-{kind}-repeat",
            )
        verb = "joins" if kind == "join" else "leaves"
        return (
            f"kernel ({node}) reports that it {verb} {group} (no traced call did that)",
            None,
            f"igmp-{kind}-untraced",
        )

    @staticmethod
    def _how(call: Call, kind: str) -> str:
        if call["call"] == "setsockopt":
            return f" ({args_of(call)['optname']})"
        return " (closing a socket that had joined drops its memberships)" if kind == "leave" else ""

    # -- multicast datagrams -------------------------------------------------------------------------
    def datagram(self, rec: Rec) -> dict[str, Any] | None:
        """A UDP datagram to a multicast group: its sendto(), and every member socket that read it."""
        ip, udp, eth = rec["ip"], rec["udp"], rec["eth"]
        if ip is None or udp is None:
            return None
        dst, frag = norm_host(ip["dst"]), ip["frag"]
        if not is_multicast(dst) or (frag is not None and frag["mf"]):
            return None
        src = norm_host(ip["src"])
        length = max(udp["length"] - 8, 0)
        sha = udp.get("sha1")  # absent when the snap length cut the payload
        iface, ts = rec["interface"], packet_time(rec)
        node = self.log.node_of(src, eth["src"] if eth is not None else None)
        send = self._first_fit(
            [s for s in self.log.socks.values() if s.node == node],
            (dst, udp["dport"]),
            length,
            sha,
            ts,
            iface,
            sending=True,
        )
        if send is None:
            return None
        readers = []
        for sock in self.members.get(dst, []):
            read = self._first_fit([sock], (src, udp["sport"]), length, sha, ts, iface, sending=False)
            if read is not None:
                readers.append(read)
        readers.sort(key=lambda c: (c.get("node", ""), c["t_start_ns"]))  # a log made elsewhere may name none
        got = (
            "; received by " + ", ".join(call_label(c) for c in readers) + f" (members of {dst})"
            if readers
            else f"; no traced socket that joined {dst} read it"
        )
        return make_cause(
            "call",
            "udp-multicast",
            f"{call_label(send)}: one datagram of {length} bytes to group {dst}, "
            f"one copy for every member{got}",
            [send],
            consumed_by=[c["id"] for c in readers] or None,
        )

    def _first_fit(
        self,
        socks: list[Socket],
        peer: tuple[str, int],
        length: int,
        sha: str | None,
        ts: int,
        iface: str,
        *,
        sending: bool,
    ) -> Call | None:
        """The earliest unclaimed call that sent (read) these very bytes: length and payload hash, so that
        a member that missed one datagram is never said to have read it."""

        def fits(call: Call, dgram: Datagram, sock: Socket) -> bool:
            return (
                endpoint(dgram.get("peer")) == peer
                and dgram.get("len") == length
                and not (sha and dgram.get("sha1") and dgram["sha1"] != sha)
            )

        return earliest_fit(socks, self._claimed, iface, ts, fits, sending=sending)
