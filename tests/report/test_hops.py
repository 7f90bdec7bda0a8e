"""Which hop a frame is: the capture interface's link and the end that owns the source MAC."""

from __future__ import annotations

from typing import Any

from lab.report import hops

NODES: dict[str, Any] = {
    "h1": {"kind": "host", "interfaces": [{"name": "h1-eth0", "mac": "02:00:00:00:01:00", "peer": "r1",
                                            "ipv4": "198.18.0.1/24"}]},
    "r1": {"kind": "router", "interfaces": [
        {"name": "r1-eth0", "mac": "02:00:00:00:02:00", "peer": "h1", "ipv4": "198.18.0.254/24"},
        {"name": "r1-eth1", "mac": "02:00:00:00:02:01", "peer": "h2", "ipv4": "198.18.1.254/24"}]},
    "h2": {"kind": "host", "interfaces": [{"name": "h2-eth0", "mac": "02:00:00:00:03:00", "peer": "r1",
                                            "ipv4": "198.18.1.1/24"}]},
}


def finder() -> hops.HopFinder:
    return hops.HopFinder(links=hops.link_ends_from(NODES), mac_nodes=hops.mac_nodes_from(NODES),
                          ip_nodes=hops.ip_nodes_from(NODES))


def syn(iface: str, src_mac: str, dst_mac: str) -> dict[str, Any]:
    return {"number": 1, "interface": iface, "eth": {"src": src_mac, "dst": dst_mac},
            "ip": {"src": "198.18.0.1", "dst": "198.18.1.1", "ttl": 64}, "tcp": {"sport": 1, "dport": 2}}


def test_each_copy_is_the_hop_of_its_link_not_the_end_to_end_pair() -> None:
    f = finder()
    # the same SYN (IP h1 -> h2) seen on both links
    assert f.hop(syn("h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00")) == hops.Hop("h1", "r1")
    assert f.hop(syn("r1-eth1", "02:00:00:00:02:01", "02:00:00:00:03:00")) == hops.Hop("r1", "h2")
    # the reply captured at r1-eth1 comes from h2's side
    assert f.hop(syn("r1-eth1", "02:00:00:00:03:00", "02:00:00:00:02:01")) == hops.Hop("h2", "r1")


def test_a_broadcast_on_a_link_reaches_the_other_end_and_says_so() -> None:
    hop = finder().hop(syn("h1-eth0", "02:00:00:00:01:00", "ff:ff:ff:ff:ff:ff") | {"ip": None})
    assert (hop.src, hop.dst) == ("h1", "r1") and hop.group == "broadcast ff:ff:ff:ff:ff:ff"


def test_without_link_knowledge_addresses_decide() -> None:
    f = hops.HopFinder(ip_nodes=hops.ip_nodes_from(NODES))
    assert f.hop(syn("eth0", "02:aa:aa:aa:aa:aa", "02:bb:bb:bb:bb:bb")) == hops.Hop("h1", "h2")


def test_background_is_only_the_kernels_own_ipv6_housekeeping() -> None:
    mld = {"icmp": {"version": 6, "type": 143}, "cause": {"source": "kernel"}}
    ns_for_connect = {"icmp": {"version": 6, "type": 135}, "cause": {"source": "kernel", "related": [7]}}
    echo = {"icmp": {"version": 6, "type": 128}, "cause": {}}
    assert hops.background_kind(mld) == "MLD"
    assert hops.background_kind(ns_for_connect) is None
    assert hops.background_kind(echo) is None


def test_program_caused_follows_answers_and_copies() -> None:
    packets = [
        {"number": 1, "cause": {"calls": [7]}},
        {"number": 2, "cause": {"answers": 1}},
        {"number": 3, "cause": {"copy_of": 2}},
        {"number": 4, "cause": {"source": "kernel", "rule": "mld"}},
        {"number": 5, "cause": {"answers": 4}},
    ]
    assert hops.program_caused(packets) == {1, 2, 3}


def test_connection_key_is_the_same_both_ways() -> None:
    a = {"ip": {"src": "198.18.0.1", "dst": "198.18.0.2"}, "tcp": {"sport": 40000, "dport": 5000}}
    b = {"ip": {"src": "198.18.0.2", "dst": "198.18.0.1"}, "tcp": {"sport": 5000, "dport": 40000}}
    assert hops.connection_of(a) == hops.connection_of(b) == "TCP 198.18.0.1:40000 <-> 198.18.0.2:5000"


def test_a_datagram_to_a_group_has_no_single_receiver_even_if_a_member_bound_the_group() -> None:
    """Receivers of a multicast group bind to the group's address: that socket names one member of many."""
    f = hops.HopFinder(ip_nodes=hops.ip_nodes_from(NODES), ep_nodes={("239.1.2.3", 5000): "h2"})
    pkt = {"eth": {"src": "02:00:00:00:01:00", "dst": "01:00:5e:01:02:03"},
           "ip": {"src": "198.18.0.1", "dst": "239.1.2.3"}, "udp": {"sport": 40000, "dport": 5000}}
    assert f.hop(pkt) == hops.Hop("h1", None, "multicast 239.1.2.3")
