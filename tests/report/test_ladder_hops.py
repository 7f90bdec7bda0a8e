"""The terminal ladder's hop-by-hop arrows, folded background, filters and width (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from lab.errors import UsageError
from lab.records import PacketRecord
from lab.report import hops
from lab.report.ladder import LANE_GAP, LadderFilter, Lane, cut_to_width, render_ladder
from tests.helpers.builders import T0, cause, eth, icmp, ip, layers, packet, tcp
from tests.helpers.renderrecords import ROUTED_NODES as NODES
from tests.helpers.renderrecords import SEGMENT

LANES = [Lane("h1"), Lane("r1", "router"), Lane("h2")]


def syn(number: int, iface: str, src: str, dst: str, ttl: int) -> PacketRecord:
    return packet(number, T0 + number, interface=iface, node=iface.split("-")[0], eth=eth(src, dst),
                  ip=ip("198.18.0.1", "198.18.1.1", ttl=ttl),
                  tcp=tcp(40000, 5000, "SYN", seq=0, ack=0, **SEGMENT),
                  layers=layers("Ethernet", "IPv4", "TCP"), role={"code": "syn", "text": "SYN"},
                  cause=cause("call", "syn-connect", "h1 connect() #1 sends the SYN", calls=[1]))


MLD = packet(9, T0 + 9, interface="h1-eth0", eth=eth("02:00:00:00:01:00", "33:33:00:00:00:16"),
             ip=ip("fe80::1", "ff02::16", ttl=1, proto=58), icmp=icmp(6, 143, "MLDv2 report"),
             layers=layers("Ethernet", "IPv6", "ICMPv6"), role={"code": "other", "text": "MLD report"},
             cause=cause("kernel", "mld", "kernel MLD"))
PACKETS = [syn(1, "h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00", 64),
           syn(2, "r1-eth1", "02:00:00:00:02:01", "02:00:00:00:03:00", 63), MLD]


def ladder(**kw: Any) -> str:
    return render_ladder(PACKETS, [], LANES, hops.mac_nodes_from(NODES), ip_nodes=hops.ip_nodes_from(NODES),
                         links=hops.link_ends_from(NODES), **kw)


def row(text: str, needle: str) -> str:
    found = [ln for ln in text.splitlines() if needle in ln]
    assert len(found) == 1, text
    return found[0]


def test_a_routed_packet_is_one_arrow_per_hop_with_its_ttl() -> None:
    text = ladder()
    first, second = row(text, "#1 SYN"), row(text, "#2 SYN")
    cols = lambda ln: ln[11: 11 + 2 * LANE_GAP + 1]  # noqa: E731
    assert cols(first).startswith("|--") and cols(first)[2 * LANE_GAP] == "|"  # h1 -> r1, h2 untouched
    assert cols(second)[0] == "|" and cols(second)[LANE_GAP:].startswith("|--")  # r1 -> h2
    assert "ttl=64" in first and "ttl=63" in second
    # without link knowledge both copies were one h1 -> h2 arrow each
    old = render_ladder(PACKETS, [], LANES, hops.mac_nodes_from(NODES), ip_nodes=hops.ip_nodes_from(NODES))
    assert "ttl=" not in old


def test_background_is_folded_into_one_line_unless_asked_for() -> None:
    text = ladder()
    assert "#9" not in text
    assert row(text, "background packets folded").startswith("1 background packets folded (MLD 1)")
    shown = ladder(keep=LadderFilter.parse(["background"]))
    assert "#9" in shown and "folded" not in shown


def test_filters_keep_what_they_name() -> None:
    assert "#1 SYN" not in ladder(keep=LadderFilter.parse(["node=h2"]))
    assert "#2 SYN" in ladder(keep=LadderFilter.parse(["node=h2"]))
    assert "#1 SYN" not in ladder(keep=LadderFilter.parse(["proto=udp"]))
    assert "#1 SYN" in ladder(keep=LadderFilter.parse(["proto=TCP", "conn=5000"]))
    assert "#1 SYN" not in ladder(keep=LadderFilter.parse(["conn=5001"]))
    mine = ladder(keep=LadderFilter.parse(["mine", "background"]))
    assert "#1 SYN" in mine and "#9" not in mine
    with pytest.raises(UsageError, match="--filter 'colour=red'"):
        LadderFilter.parse(["colour=red"])


def test_lines_are_cut_to_the_width() -> None:
    text = cut_to_width(ladder(), 80)
    lines = text.splitlines()
    assert lines and max(len(ln) for ln in lines) <= 80
    assert any(ln.endswith("…") for ln in lines)
    assert cut_to_width("short\n", 80) == "short\n"
