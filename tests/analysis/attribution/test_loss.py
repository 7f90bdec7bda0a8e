"""Lost copies: seen on one link of the path, never on the next captured one, dropped by a loss rule."""

from __future__ import annotations

from typing import Any

from lab.analysis.attribution.loss import LossRule, find_lost
from lab.records import PacketRecord
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.attribution import packet_record
from tests.helpers.builders import ip, tcp
from tests.helpers.records import assert_valid

H1, H2 = "198.18.0.1", "198.18.1.1"
NODES = {
    "h1": {"kind": "host", "interfaces": [{"name": "h1-eth0", "ipv4": f"{H1}/24", "peer": "r1"}]},
    "r1": {"kind": "router", "interfaces": [{"name": "r1-eth0", "ipv4": "198.18.0.254/24", "peer": "h1"},
                                            {"name": "r1-eth1", "ipv4": "198.18.1.254/24", "peer": "h2"}]},
    "h2": {"kind": "host", "interfaces": [{"name": "h2-eth0", "ipv4": f"{H2}/24", "peer": "r1"}]},
}
RULE = LossRule("r1", "h2", "loss 10% on link r1-h2 (nftables)")


def packet(n: int, iface: str, seq: int, length: int, *, ipid: int, back: bool = False) -> PacketRecord:
    """A segment as the attribution gets it (no cause yet)."""
    src, dst = (H2, H1) if back else (H1, H2)
    ports = (5009, 40000) if back else (40000, 5009)
    return packet_record(number=n, ts_ns=n * 1000, interface=iface, role="data" if length else "ack",
                         ip=ip(src, dst, 6, ip_id=ipid),
                         tcp=tcp(*ports, "ACK", seq_raw=1000 + seq, ack_raw=1, length=length, seq=seq))


def seg(n: int, iface: str, seq: int, length: int, *, ipid: int, back: bool = False,
        copy_of: int | None = None) -> PacketRecord:
    """A segment of packets.jsonl after a first analysis: with its cause."""
    cause: dict[str, Any] = {"source": "call", "rule": "tcp-data-offset", "calls": [10], "consumed_by": [11],
                             "text": "h1 send() #10 bytes; read by h2 recv() #11"}
    if copy_of:
        cause["copy_of"] = copy_of
    rec: dict[str, Any] = {**packet(n, iface, seq, length, ipid=ipid, back=back), "cause": cause}
    assert_valid("packet", rec)
    return rec  # type: ignore[return-value]


def capture() -> list[PacketRecord]:
    return [
        seg(1, "h1-eth0", 1, 1448, ipid=1), seg(2, "r1-eth1", 1, 1448, ipid=1, copy_of=1),
        seg(3, "h1-eth0", 1449, 1448, ipid=2),  # never on r1-eth1: lost
        seg(4, "h1-eth0", 2897, 1448, ipid=3), seg(5, "r1-eth1", 2897, 1448, ipid=3, copy_of=4),
        seg(6, "r1-eth1", 1, 0, ipid=9, back=True),  # h2's ACK, never on h1-eth0: lost at r1's ingress
        seg(7, "h1-eth0", 1449, 1448, ipid=4), seg(8, "r1-eth1", 1449, 1448, ipid=4, copy_of=7),  # the resend
    ]


def test_a_copy_missing_on_the_next_link_is_lost_and_names_its_retransmission() -> None:
    lost = find_lost(capture(), NODES, [RULE])
    assert set(lost) == {3, 6}
    assert lost[3] == {"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": RULE.rule, "carried_by": 7}
    assert lost[6]["seen_last_on"] == "r1-eth1" and lost[6]["carried_by"] is None


def test_nothing_is_lost_without_a_loss_rule_or_a_capture_further_on() -> None:
    assert find_lost(capture(), NODES, []) == {}
    only_h1 = [p for p in capture() if p["interface"] == "h1-eth0"]
    assert find_lost(only_h1, NODES, [RULE]) == {}


def test_the_lost_copy_is_never_read_by_anyone() -> None:
    lost = {3: {"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": RULE.rule, "carried_by": 7}}
    attributor = Attributor([], ip_nodes={H1: "h1", H2: "h2"}, lost=lost)
    rec = packet(3, "h1-eth0", 1449, 1448, ipid=2)  # capture()[2], before its first analysis
    cause = attributor.cause(rec)
    assert rec["lost"] == lost[3]
    text = cause["text"]
    assert "read by" not in text and "received by" not in text and "consumed_by" not in cause
    assert "lost on link r1-h2" in text and "retransmission frame 7 carried its bytes to h2" in text
