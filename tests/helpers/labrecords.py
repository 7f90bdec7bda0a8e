"""The labs' synthetic runs: numbered packets on one capture clock (``Capture``), calls timed in seconds on
it, and whole runs (a TCP echo, a SYN routed over three links) for unit tests of checks and questions.

Every record is a complete one from ``tests.helpers.builders`` (checked against the shipped schema as it
is built), so a check is tested on the records a run really writes, never on a partial dict that would
hide a missing key. Defaults describe h1 (198.18.0.1) talking to h2 (198.18.0.2) on one capture point; a
test names only what it is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.labs.spec import LabSpec, load_lab
from lab.records import (
    Address,
    CallRecord,
    Cause,
    Datagram,
    Ethernet,
    PacketRecord,
)
from tests.helpers import builders
from tests.helpers.builders import cause, eth, layer
from tests.helpers.records import assert_valid, load_jsonl

H1, H2 = "198.18.0.1", "198.18.0.2"
T0 = 1_764_000_000_000_000_000
"""The labs' capture clock starts here: ``Capture`` and ``call`` give times in seconds after it."""
C, S = (H1, 40000), (H2, 5000)

# the cause rule the attribution gives a packet of each role, when a test does not name one
RULE_OF_ROLE = {
    "syn": "syn-connect",
    "syn-ack": "syn-ack",
    "handshake-ack": "handshake-ack",
    "data": "tcp-data-offset",
    "ack": "ack",
    "fin": "fin-close",
    "rst": "rst",
    "udp": "udp-sendto",
    "arp-request": "arp-request",
    "ip-fragment": "ip-fragment",
}


class Capture:
    """Appends packets with increasing numbers (from ``first``) and times (1 ms apart unless ``at`` is
    given)."""

    def __init__(self, first: int = 1) -> None:
        self.first = first
        self.packets: list[PacketRecord] = []

    def _add(
        self,
        *,
        at: float | None,
        iface: str,
        node: str | None,
        size: int,
        role: str,
        role_text: str | None = None,
        eth: Ethernet | None = None,
        analysis: list[str] | None = None,
        cause_: Cause | None = None,
        **fields: Any,
    ) -> PacketRecord:
        """The next frame (``builders.packet``) of ``size`` bytes on ``iface``, between h1's and h2's MACs
        and caused as ``RULE_OF_ROLE`` says unless told; ``fields``: layers, summary and the headers."""
        n = self.first + len(self.packets)
        t = at if at is not None else n * 0.001
        rec = builders.packet(
            n,
            T0 + round(t * 1e9),
            t=t,
            interface=iface,
            node=node or iface.split("-")[0],
            len=size,
            caplen=size,
            eth=eth if eth is not None else builders.eth("02:00:00:00:01:00", "02:00:00:00:02:00"),
            role={"code": role, "text": role_text or role},
            analysis=list(analysis) if analysis is not None else [],
            cause=cause_ if cause_ is not None else cause(rule=RULE_OF_ROLE.get(role, "unknown"), calls=[]),
            **fields,
        )
        self.packets.append(rec)
        return rec

    def tcp(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        flags: str,
        *,
        role: str,
        seq_raw: int = 1000,
        ack_raw: int = 0,
        seq: int = 0,
        length: int = 0,
        mss: int | None = None,
        at: float | None = None,
        iface: str = "h1-eth0",
        node: str | None = None,
        ttl: int = 64,
        ip_id: int = 1,
        win: int = 500,
        from_client: bool = True,
        cause: Cause | None = None,
        analysis: list[str] | None = None,
        app: str | None = None,
        eth: Ethernet | None = None,
    ) -> PacketRecord:
        """One TCP segment of ``length`` payload bytes (an MSS option makes its header 24 bytes)."""
        header = 24 if mss is not None else 20
        layers = [
            *builders.layers("Ethernet", "IPv4"),
            layer("TCP", "transport", 4, 34, header),
        ]
        if length:
            layers.append(layer(app or "Data", "application", 7, 34 + header, length))
        segment = builders.tcp(src[1], dst[1], flags, seq_raw=seq_raw, ack_raw=ack_raw, seq=seq, ack=0,
                               length=length, win=win, mss=mss, from_client=from_client)
        return self._add(
            at=at,
            iface=iface,
            node=node,
            size=34 + header + length,
            layers=layers,
            summary=f"{src} -> {dst} [{flags}]",
            role=role,
            ip=builders.ip(src[0], dst[0], 6, ttl=ttl, ip_id=ip_id),
            tcp=segment,
            app=app,
            eth=eth,
            analysis=analysis,
            cause_=cause,
        )

    def udp(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        payload: int,
        *,
        at: float | None = None,
        iface: str = "h1-eth0",
        node: str | None = None,
        ip_id: int = 7,
        app: str | None = None,
    ) -> PacketRecord:
        """One UDP datagram of ``payload`` bytes."""
        layers = builders.layers("Ethernet", "IPv4", "UDP")
        if payload:
            layers.append(layer(app or "Data", "application", 7, 42, payload))
        return self._add(
            at=at,
            iface=iface,
            node=node,
            size=42 + payload,
            layers=layers,
            summary=f"{src} -> {dst} UDP",
            role="udp",
            ip=builders.ip(src[0], dst[0], 17, ip_id=ip_id),
            udp=builders.udp(src[1], dst[1], payload + 8),
            app=app,
        )

    def fragment(
        self,
        src: str,
        dst: str,
        *,
        offset: int,
        mf: bool,
        size: int,
        ip_id: int = 99,
        iface: str = "h1-eth0",
        node: str | None = None,
    ) -> PacketRecord:
        """One IPv4 fragment of ``size`` bytes of IP (header included) of a UDP datagram."""
        return self._add(
            at=None,
            iface=iface,
            node=node,
            size=14 + size,
            layers=[
                *builders.layers("Ethernet", "IPv4"),
                layer("Data", "internet", 3, 34, size - 20),
            ],
            summary="IPv4 fragment",
            role="ip-fragment",
            role_text="fragment",
            ip=builders.ip(src, dst, 17, ip_id=ip_id, frag={"id": ip_id, "offset": offset, "mf": mf}),
        )

    def routing(
        self,
        src: str,
        message: dict[str, Any],
        *,
        proto: int = 89,
        cause: Cause | None = None,
        at: float | None = None,
        iface: str = "r1-eth1",
    ) -> PacketRecord:
        """An OSPF (IP protocol 89) or EIGRP (88) message to its multicast group; ``message`` is the
        decoded header (``routing``: protocol, message, router_id, ...)."""
        name = {89: "OSPF", 88: "EIGRP"}[proto]
        return self._add(
            at=at,
            iface=iface,
            node=None,
            size=34 + 44,
            layers=[
                *builders.layers("Ethernet", "IPv4"),
                layer(name, "internet", 3, 34, 44),
            ],
            summary=f"{src} -> 224.0.0.5 {name} {message.get('message')}",
            role="other",
            role_text=f"{name} {message.get('message')}",
            ip=builders.ip(src, "224.0.0.5", proto, ttl=1, ip_id=1),
            cause_=cause,
            routing=message,
        )

    def mld(self, text: str, *, iface: str = "h1-eth0") -> PacketRecord:
        """An MLDv2 report a kernel sends as its interface comes up (``text``: the cause's words)."""
        return self._add(
            at=None,
            iface=iface,
            node=None,
            size=90,
            layers=[
                *builders.layers("Ethernet", "IPv6"),
                layer("IPv6 Hop-by-Hop", "internet", 3, 54, 8),
                layer("ICMPv6", "internet", 3, 62, 28),
            ],
            summary="fe80::ff:fe00:100 -> ff02::16 ICMPv6 multicast listener report v2",
            role="other",
            role_text="MLD: multicast listener report v2",
            eth=builders.eth("02:00:00:00:01:00", "33:33:00:00:00:16"),
            ip=builders.ip("fe80::ff:fe00:100", "ff02::16", 58, ttl=1, ip_id=None),
            icmp=builders.icmp(6, 143, "multicast listener report v2", quoted=None),
            cause_=cause("kernel", "mld", text, calls=[]),
        )

    def arp(self, sender: str, target: str, *, iface: str = "h1-eth0") -> PacketRecord:
        """An ARP request from ``sender`` for ``target``."""
        return self._add(
            at=None,
            iface=iface,
            node=None,
            size=42,
            layers=builders.layers("Ethernet", "ARP"),
            summary="ARP",
            role="arp-request",
            role_text="ARP",
            eth=builders.eth("02:00:00:00:01:00", "ff:ff:ff:ff:ff:ff"),
            arp=builders.arp(1, sender, target, sender_mac="02:00:00:00:01:00"),
        )


def call(
    id: int,
    name: str,
    *,
    node: str = "h1",
    at: float = 0.0,
    took: float = 0.0001,
    sock: str = "1:3:1",
    ret: Any = None,
    error: str | None = None,
    exception: str | None = None,
    local: Address | None = None,
    peer: Address | None = None,
    type: str = "SOCK_STREAM",
    nbytes: int | None = None,
    args: dict[str, Any] | None = None,
    sent_after: int = 0,
    dgram: Datagram | None = None,
) -> CallRecord:
    """One calls.jsonl record (``builders.call``) of pid 1 on ``node``, its byte counters at 0 unless
    ``sent_after`` says; ``at`` and ``took`` in seconds on the capture's clock."""
    return builders.call(
        name,
        id=id,
        node=node,
        pid=1,
        tid=1,
        sock=sock,
        args=args if args is not None else {},
        ret=ret,
        error=error,
        exception=exception,
        t_start_ns=T0 + round(at * 1e9),
        t_end_ns=T0 + round((at + took) * 1e9),
        type=type,
        local=local,
        peer=peer,
        nbytes=nbytes,
        sent_before=0,
        sent_after=sent_after,
        recv_before=0,
        recv_after=0,
        dgram=dgram,
    )


def echo_session(*, accept_at: float = 0.010) -> tuple[list[PacketRecord], list[CallRecord]]:
    """A tcp-echo run: handshake at 1-3 ms, data at 4-5 ms, FINs at 6-8 ms; accept() returns at accept_at."""
    cap = Capture()
    cap.tcp(C, S, "SYN", role="syn", seq_raw=1000, mss=1460, cause=cause("call", "syn-connect", calls=[7]))
    cap.tcp(
        S,
        C,
        "SYN,ACK",
        role="syn-ack",
        seq_raw=5000,
        ack_raw=1001,
        mss=1460,
        from_client=False,
        cause=cause("kernel", "syn-ack", calls=[4]),
    )
    cap.tcp(C, S, "ACK", role="handshake-ack", seq_raw=1001, ack_raw=5001, seq=1)
    cap.tcp(
        C,
        S,
        "PSH,ACK",
        role="data",
        seq_raw=1001,
        seq=1,
        length=10,
        cause=cause("call", "tcp-data-offset", calls=[8]),
    )
    cap.tcp(S, C, "ACK", role="ack", seq_raw=5001, ack_raw=1011, seq=1, from_client=False)
    cap.tcp(C, S, "FIN,ACK", role="fin", seq_raw=1011, seq=11)
    cap.tcp(S, C, "FIN,ACK", role="fin", seq_raw=5001, seq=1, from_client=False)
    cap.tcp(C, S, "ACK", role="ack", seq_raw=1012, seq=12)
    calls = [
        call(3, "bind", node="h2", at=0.0, local=["0.0.0.0", 5000], sock="2:3:1"),
        call(4, "listen", node="h2", at=0.0002, local=["0.0.0.0", 5000], sock="2:3:1"),
        call(
            5,
            "accept",
            node="h2",
            at=0.0003,
            took=accept_at - 0.0003,
            sock="2:3:1",
            ret={"fd": 4, "sock": "2:4:1", "peer": list(C)},
        ),
        call(7, "connect", at=0.0005, took=0.0022, local=list(C), peer=list(S)),
        call(8, "sendall", at=0.0035, local=list(C), peer=list(S), nbytes=10, sent_after=10),
    ]
    return cap.packets, calls


def routed_syn() -> Capture:
    """One SYN seen on three links (TTL one lower and new MACs per hop), and an ARP request per link."""
    cap = Capture()
    for i, iface in enumerate(["h1-eth0", "r1-eth1", "r2-eth1"]):
        macs = eth(f"02:00:00:00:0{i}:01", f"02:00:00:00:0{i + 1}:02")
        cap.tcp(C, S, "SYN", role="syn", iface=iface, ttl=64 - i, eth=macs)
    for a, b in [(H1, "198.18.0.254"), ("198.18.1.254", "198.18.1.253"), ("198.18.2.254", H2)]:
        cap.arp(a, b)
    return cap


def load_run(run_dir: Path) -> tuple[LabSpec, list[PacketRecord], list[CallRecord]]:
    """A recorded run's lab copy and derived records (packets.jsonl, calls.jsonl), for unit tests of checks;
    every record is validated against the shipped schema as it is read.

    Grading never reads these derived files (it re-analyzes the raw evidence); tests of the checks do.
    """
    root = Path(run_dir)

    def read(name: str, kind: str) -> list[Any]:
        records = load_jsonl(root / name)
        for n, rec in enumerate(records, 1):
            assert_valid(kind, rec, f"{root / name}:{n}")
        return records

    spec = load_lab(root / "lab.yaml", check_topology=False)
    return spec, read("packets.jsonl", "packet"), read("calls.jsonl", "call")
