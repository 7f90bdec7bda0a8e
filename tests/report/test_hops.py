"""Which hop a frame is: the capture interface's link and the end that owns the source MAC."""

from __future__ import annotations

from lab.records import PacketRecord
from lab.report import hops
from tests.helpers.builders import cause, eth, icmp, ip, packet, tcp, udp
from tests.helpers.renderrecords import ROUTED_NODES as NODES
from tests.helpers.renderrecords import SEGMENT


def finder() -> hops.HopFinder:
    return hops.HopFinder(links=hops.link_ends_from(NODES), mac_nodes=hops.mac_nodes_from(NODES),
                          ip_nodes=hops.ip_nodes_from(NODES))


def syn(iface: str, src_mac: str, dst_mac: str, **fields: object) -> PacketRecord:
    blocks = {"ip": ip("198.18.0.1", "198.18.1.1"), "tcp": tcp(1, 2, "SYN", seq=0, ack=0, **SEGMENT),
              **fields}
    return packet(1, interface=iface, node=iface.split("-")[0], eth=eth(src_mac, dst_mac), **blocks)


def test_each_copy_is_the_hop_of_its_link_not_the_end_to_end_pair() -> None:
    f = finder()
    # the same SYN (IP h1 -> h2) seen on both links
    assert f.hop(syn("h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00")) == hops.Hop("h1", "r1")
    assert f.hop(syn("r1-eth1", "02:00:00:00:02:01", "02:00:00:00:03:00")) == hops.Hop("r1", "h2")
    # the reply captured at r1-eth1 comes from h2's side
    assert f.hop(syn("r1-eth1", "02:00:00:00:03:00", "02:00:00:00:02:01")) == hops.Hop("h2", "r1")


def test_a_broadcast_on_a_link_reaches_the_other_end_and_says_so() -> None:
    hop = finder().hop(syn("h1-eth0", "02:00:00:00:01:00", "ff:ff:ff:ff:ff:ff", ip=None, tcp=None))
    assert (hop.src, hop.dst) == ("h1", "r1") and hop.group == "broadcast ff:ff:ff:ff:ff:ff"


def test_without_link_knowledge_addresses_decide() -> None:
    f = hops.HopFinder(ip_nodes=hops.ip_nodes_from(NODES))
    assert f.hop(syn("eth0", "02:aa:aa:aa:aa:aa", "02:bb:bb:bb:bb:bb")) == hops.Hop("h1", "h2")


def test_background_is_only_the_kernels_own_ipv6_housekeeping() -> None:
    mld = packet(1, icmp=icmp(6, 143, "MLDv2 report"), cause=cause(text="kernel", calls=[]))
    ns_for_connect = packet(2, icmp=icmp(6, 135, "neighbour solicitation"),
                            cause=cause(text="kernel", related=[7]))
    echo = packet(3, icmp=icmp(6, 128, "echo request"), cause=cause("inferred", text="kernel"))
    assert hops.background_kind(mld) == "MLD"
    assert hops.background_kind(ns_for_connect) is None
    assert hops.background_kind(echo) is None


def test_program_caused_follows_answers_and_copies() -> None:
    packets = [
        packet(1, cause=cause("call", text="kernel", calls=[7])),
        packet(2, cause=cause(text="kernel", answers=1)),
        packet(3, cause=cause(text="kernel", copy_of=2)),
        packet(4, cause=cause(rule="mld", text="kernel")),
        packet(5, cause=cause(text="kernel", answers=4)),
    ]
    assert hops.program_caused(packets) == {1, 2, 3}


def test_connection_key_is_the_same_both_ways() -> None:
    a = packet(1, ip=ip("198.18.0.1", "198.18.0.2"), tcp=tcp(40000, 5000, "SYN", seq=0, ack=0, **SEGMENT))
    b = packet(2, ip=ip("198.18.0.2", "198.18.0.1"), tcp=tcp(5000, 40000, "SYN,ACK", seq=0, ack=0, **SEGMENT))
    assert hops.connection_of(a) == hops.connection_of(b) == "TCP 198.18.0.1:40000 <-> 198.18.0.2:5000"


def test_a_datagram_to_a_group_has_no_single_receiver_even_if_a_member_bound_the_group() -> None:
    """Receivers of a multicast group bind to the group's address: that socket names one member of many."""
    f = hops.HopFinder(ip_nodes=hops.ip_nodes_from(NODES), ep_nodes={("239.1.2.3", 5000): "h2"})
    pkt = packet(1, interface="eth0", node=None, eth=eth("02:00:00:00:01:00", "01:00:5e:01:02:03"),
                 ip=ip("198.18.0.1", "239.1.2.3", proto=17), udp=udp(40000, 5000, 20))
    assert f.hop(pkt) == hops.Hop("h1", None, "multicast 239.1.2.3")
