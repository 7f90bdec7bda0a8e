"""Group memberships as strace decodes them (a routing daemon's MCAST_JOIN_GROUP, a C program's
IP_ADD_MEMBERSHIP), next to the Python tracer's raw ip_mreq bytes."""

from __future__ import annotations

from lab.analysis.attribution.igmp import _group_of


def _call(optname: str, value: str, **extra: object) -> dict:
    return {"call": "setsockopt", "args": {"level": "SOL_IP", "optname": optname, "value": value}, **extra}


def test_strace_decodings() -> None:
    mcast = ('{gr_interface=if_nametoindex("r3-eth0"), gr_group={sa_family=AF_INET, sin_port=htons(0), '
             'sin_addr=inet_addr("224.0.0.10")}}')
    assert _group_of(_call("MCAST_JOIN_GROUP", mcast)) == "224.0.0.10"
    assert _group_of(_call("MCAST_LEAVE_GROUP", mcast)) == "224.0.0.10"
    mreq = '{imr_multiaddr=inet_addr("239.1.2.3"), imr_interface=inet_addr("0.0.0.0")}'
    assert _group_of(_call("IP_ADD_MEMBERSHIP", mreq)) == "239.1.2.3"
    assert _group_of(_call("IP_ADD_MEMBERSHIP", "ef010203" + "00000000")) == "239.1.2.3"  # Python tracer
    assert _group_of(_call("IP_MULTICAST_TTL", mcast)) is None
    assert _group_of(_call("MCAST_JOIN_GROUP", mcast, error="EADDRINUSE")) is None
