"""Packets a program built itself and wrote to a raw socket (scapy does): matched to the call by their bytes.

A frame written to an AF_PACKET socket, or a packet written to a SOCK_RAW IP socket, never passes through
the kernel's TCP or UDP: the protocol rules would take a crafted SYN for a ``connect()`` nobody made, and a
crafted ARP request for the kernel's own. The tracer records each raw send with a hash of the bytes it
moved and what they start with (``dgram.level``: ``link`` = the whole frame, ``network`` = from the IP
header on, ``ip-payload`` = what follows the IP header, the kernel filling in the header); a captured frame
whose same part has the same hash, within a second after the call began, is that call's — the earliest
such call not yet matched on that capture interface, as for datagrams.

What the kernel does next is named too: a crafted SYN's connection belongs to no socket of the node that
sent it, so when that node's kernel gets the SYN-ACK it answers with a RST (``rst-no-socket``) — unless a
firewall rule drops it. Incoming frames that a raw socket also read (``pkttype`` not 4, PACKET_OUTGOING)
name the read as a copy: the raw socket consumes nothing, the kernel still handles the frame.

Cost: nothing unless the call log holds raw sends (``wants_frames``); then one length test per packet,
and a hash only for frames of a length some raw call moved.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, NamedTuple

from lab.analysis.attribution.calllog import TOL_NS, CallLog, Endpoint, norm_host
from lab.analysis.attribution.causes import Call, call_label, make_cause, packet_time
from lab.records import TCP, PacketRecord

Rec = PacketRecord  # as the pipeline builds it: every key but ``cause``
LEVELS = ("link", "network", "ip-payload")
SEND_WINDOW_NS = 1_000_000_000  # a raw frame reaches the capture within this time of its send call
READ_WINDOW_NS = 1_000_000_000  # a raw socket reads a copy of a frame within this time of its capture
PACKET_OUTGOING = 4
SYN, RST, ACK = 0x02, 0x04, 0x10


class RawCall(NamedTuple):
    """A raw send or read with what its record says it hashed: the level, the hash and the length."""

    call: Call
    level: str
    sha1: str
    length: int


def _raw_calls(log: CallLog) -> tuple[list[RawCall], list[RawCall]]:
    """Successful raw sends and reads whose record says what they hashed (a level this module knows)."""
    sends: list[RawCall] = []
    reads: list[RawCall] = []
    for call in log.calls:
        dgram = call.get("dgram")  # a log made elsewhere (lab analyze --calls) may leave it out
        if not isinstance(dgram, dict) or dgram.get("raw") is not True or call.get("error"):
            continue
        level, sha1, length = dgram.get("level"), dgram.get("sha1"), dgram.get("len")  # may be left out
        if level not in LEVELS or not isinstance(sha1, str) or type(length) is not int:
            continue
        raw = RawCall(call, level, sha1, length)
        name = call["call"]
        if name.startswith(("send", "write")):
            sends.append(raw)
        elif name.startswith(("recv", "read")) and dgram.get("pkttype") != PACKET_OUTGOING:
            reads.append(raw)
    return sends, reads


def _parts(rec: Rec, frame: bytes) -> dict[str, bytes]:
    """The part of the frame each level hashes; none when the capture cut the frame short."""
    if rec["caplen"] != rec["len"] or len(frame) != rec["caplen"]:
        return {}
    parts = {"link": frame}
    internet = next((ly for ly in rec["layers"] if ly["tcpip"] == "internet"), None)
    if internet is None:
        return parts
    start = internet["offset"]
    packet = frame[start:]
    ip = rec["ip"]
    version = ip["version"] if ip is not None else None
    if version == 4 and len(packet) >= 20:
        total = int.from_bytes(packet[2:4], "big")
        packet = packet[:total] if 20 <= total <= len(packet) else packet
        parts["network"] = packet
        parts["ip-payload"] = packet[(packet[0] & 15) * 4:]
    elif version == 6 and len(packet) >= 40:
        packet = packet[: 40 + int.from_bytes(packet[4:6], "big")]
        parts["network"] = packet
        parts["ip-payload"] = packet[40:]
    return parts


def _what(rec: Rec) -> str:
    """``TCP SYN 198.18.0.1:41001 -> 198.18.0.2:5012``, ``ARP request for 198.18.0.2``: what was crafted."""
    ip, tcp, udp, arp = rec["ip"], rec["tcp"], rec["udp"], rec["arp"]
    src, dst = (ip["src"], ip["dst"]) if ip is not None else (None, None)
    if tcp:
        flags = tcp["flags"].replace(",", "-") if tcp["flags"] else "segment"  # null: header cut short
        return f"TCP {flags} {src}:{tcp['sport']} -> {dst}:{tcp['dport']}"
    if udp:
        return f"UDP datagram {src}:{udp['sport']} -> {dst}:{udp['dport']}"
    if arp:
        kind = "request for" if arp["op"] == 1 else "reply from"
        return f"ARP {kind} {arp['target_ip'] if arp['op'] == 1 else arp['sender_ip']}"
    if ip:
        return f"IP packet {src} -> {dst} (protocol {ip['proto']})"
    return "frame"


def _flags(tcp: TCP) -> int:
    """The segment's flag bits; none when the capture cut the header short (null)."""
    flags = tcp["flags_int"]
    return flags if flags is not None else 0


def _returned(call: Call) -> int:
    """When a raw read returned; when a log made elsewhere does not say, when it began."""
    end = call.get("t_end_ns")
    return end if end is not None else call["t_start_ns"]


class CraftedRules:
    """Match captured frames to raw-socket sends by their bytes, and explain the kernel's answers to them."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        sends, reads = _raw_calls(log)
        self._sends: dict[tuple[str, str], list[Call]] = defaultdict(list)  # (level, sha1) -> calls, by time
        self._reads: dict[tuple[str, str], list[Call]] = defaultdict(list)
        self._lengths: dict[str, set[int]] = defaultdict(set)  # level -> lengths a raw call moved
        for raws, index in ((sends, self._sends), (reads, self._reads)):
            for raw in raws:
                index[(raw.level, raw.sha1)].append(raw.call)
                self._lengths[raw.level].add(raw.length)
        for calls in (*self._sends.values(), *self._reads.values()):
            calls.sort(key=lambda c: c["t_start_ns"])
        self._matched: set[tuple[str, int]] = set()  # (capture interface, call id)
        # (its source endpoint, the peer's) of crafted SYNs -> (crafting node, send call, frame)
        self._crafted_syns: dict[tuple[Endpoint, Endpoint], tuple[str, Call, int]] = {}
        self.wants_frames = bool(sends or reads)

    def refine(self, rec: Rec, frame: bytes | None, cause: dict[str, Any]) -> dict[str, Any]:
        """The cause of a packet the protocol rules explained as ``cause``: a raw send's, when its bytes are
        the frame's; the kernel's answer to a crafted SYN; else ``cause``, with raw reads of it named."""
        if frame is None or rec.get("routing"):  # only a routing protocol's packet has the key
            return cause  # routing daemons' raw IP is lab.analysis.attribution.rawip's
        hashes = self._hashes(rec, frame)
        if not hashes:
            return self._no_socket_rst(rec, cause)
        iface, ts = rec["interface"], packet_time(rec)
        sent = self._send(hashes, iface, ts)
        send = sent[0] if sent is not None else None
        reads = self._copies(hashes, iface, ts, send)
        if sent is not None:
            return self._crafted(rec, *sent, reads)
        return self._read_too(self._no_socket_rst(rec, cause), reads)

    def _hashes(self, rec: Rec, frame: bytes) -> dict[str, str]:
        """level -> sha1 of the frame's part at that level, only where a raw call moved that many bytes."""
        out: dict[str, str] = {}
        for level, part in _parts(rec, frame).items():
            if len(part) in self._lengths.get(level, ()):
                out[level] = hashlib.sha1(part).hexdigest()[:16]
        return out

    def _send(self, hashes: dict[str, str], iface: str, ts: int) -> tuple[Call, str] | None:
        """The earliest unmatched raw send of this frame's bytes, and the level its hash matched at."""
        for level, digest in hashes.items():
            for call in self._sends.get((level, digest), ()):
                if call["t_start_ns"] > ts + TOL_NS:
                    break
                if (iface, call["id"]) in self._matched or call["t_start_ns"] < ts - SEND_WINDOW_NS:
                    continue
                self._matched.add((iface, call["id"]))
                return call, level
        return None

    def _copies(self, hashes: dict[str, str], iface: str, ts: int, send: Call | None) -> list[Call]:
        """Raw reads of an incoming copy of this frame: the first unmatched one per socket (a node's own
        outgoing frames are marked PACKET_OUTGOING by its packet sockets and are left out)."""
        found: dict[Any, Call] = {}
        for level, digest in hashes.items():
            for call in self._reads.get((level, digest), ()):
                if call["t_start_ns"] > ts + READ_WINDOW_NS:
                    break
                if _returned(call) < ts - TOL_NS:
                    continue
                if (iface, call["id"]) in self._matched or call.get("sock") in found:
                    continue
                if send is not None and call.get("node") == send.get("node"):
                    continue  # its own frame, read back on the node that sent it
                found[call.get("sock")] = call
        for call in found.values():
            self._matched.add((iface, call["id"]))
        return sorted(found.values(), key=lambda c: c["t_start_ns"])

    def _crafted(self, rec: Rec, send: Call, level: str, reads: list[Call]) -> dict[str, Any]:
        node = str(send.get("node") or "?")
        what = _what(rec)
        sock = f"{send.get('family')} {send.get('type')}"
        whole = {"link": "the whole frame", "network": "the IP packet", "ip-payload": "the IP payload"}[level]
        proto = what.split(" ", 1)[0] if what.startswith(("TCP", "UDP", "ARP")) else "IP"
        text = (f"{call_label(send)} on a raw socket ({sock}) wrote {what}: {whole}, built by the program "
                f"byte for byte (the same hash); {node}'s kernel only put it on the wire, its {proto} never "
                f"saw it")
        tcp, ip = rec["tcp"], rec["ip"]
        if tcp is not None and _flags(tcp) & (SYN | ACK) == SYN:
            src: Endpoint = (norm_host(ip["src"]) if ip is not None else "", tcp["sport"])
            dst: Endpoint = (norm_host(ip["dst"]) if ip is not None else "", tcp["dport"])
            self._crafted_syns[(src, dst)] = (node, send, rec["number"])
        cause = make_cause("call", "raw-send", text, [send])
        return self._read_too(cause, reads)

    def _no_socket_rst(self, rec: Rec, cause: dict[str, Any]) -> dict[str, Any]:
        """A RST from the node that crafted the connection's SYN, where no socket of it owns the connection:
        its kernel answered what came back (the SYN-ACK) for a connection it never opened."""
        tcp, ip = rec["tcp"], rec["ip"]
        if tcp is None or not _flags(tcp) & RST or cause["source"] != "kernel":
            return cause
        src: Endpoint = (norm_host(ip["src"]) if ip is not None else "", tcp["sport"])
        dst: Endpoint = (norm_host(ip["dst"]) if ip is not None else "", tcp["dport"])
        crafted = self._crafted_syns.get((src, dst))
        if crafted is None or self.log.tcp_sock(src, dst, packet_time(rec)) is not None:
            return cause
        node, send, frame = crafted
        # the node the rules named for the RST's source address; without the topology it is the address
        # itself, and the SYN's source address was then the crafting node's own
        if cause.get("node", src[0]) not in (node, src[0]):
            return cause
        answers = cause.get("answers")
        text = (f"kernel ({node}) resets: no socket of {node} owns {src[0]}:{src[1]} <-> {dst[0]}:{dst[1]} "
                f"— the SYN was crafted on a raw socket, the kernel never saw it (SYN frame {frame} by "
                f"{call_label(send)}" + (f"; answers frame {answers})" if answers is not None else ")"))
        return make_cause("kernel", "rst-no-socket", text, [send], answers, node=node)

    @staticmethod
    def _read_too(cause: dict[str, Any], reads: list[Call]) -> dict[str, Any]:
        if not reads:
            return cause
        who = ", ".join(call_label(c) for c in reads)
        consumed = list(dict.fromkeys([*cause.get("consumed_by", ()), *(c["id"] for c in reads)]))
        text = f"{cause['text']}; a copy read by {who} (raw socket)"
        return {**cause, "text": text, "consumed_by": consumed}
