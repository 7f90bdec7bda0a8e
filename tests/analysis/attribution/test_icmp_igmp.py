"""ICMP and IGMP attribution on synthetic records (no root): each rule alone, with the facts its sentence
states — the call behind an echo request, the frame and TTL an error answers, who heard of the error,
the setsockopt behind a join, the close behind a leave, the kernel's repeats."""

from __future__ import annotations

from typing import Any

from lab.records import CallRecord, PacketRecord
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.attribution import call as base_call
from tests.helpers.attribution import packet_record
from tests.helpers.builders import eth, ip, layer
from tests.helpers.builders import icmp as icmp_header
from tests.helpers.builders import udp as udp_header

H1, H2, R1 = "198.18.0.1", "198.18.3.1", "198.18.0.254"
DG = {"type": "SOCK_DGRAM"}


def call(i: int, node: str, sock: str, name: str, t: int, **kw: Any) -> CallRecord:
    """A call of a datagram (or ping) socket."""
    return base_call(i, node, sock, name, t, **{"type": "SOCK_DGRAM", **kw})


def packet(n: int, t: int, src: str, dst: str, proto: int, ttl: int = 64, ip_id: int = 0,
           **kw: Any) -> PacketRecord:
    layers = [layer("Ethernet", "link", 2, 0, 14), layer("IPv4", "internet", 3, 14, 20)]
    fields = {
        "number": n,
        "ts_ns": t,
        "interface": "h1-eth0",
        "len": 14 + 20 + 8 + 32,
        "caplen": 14 + 20 + 8 + 32,
        "layers": layers,
        "eth": eth("02:00:00:00:01:00", None),
        "ip": ip(src, dst, proto, ttl=ttl, ip_id=ip_id),
        **kw,
    }
    return packet_record(**fields)


def icmp(n: int, t: int, src: str, dst: str, itype: int, code: int = 0, **fields: Any) -> PacketRecord:
    layers = [layer("Ethernet", "link", 2, 0, 14), layer("IPv4", "internet", 3, 14, 20),
              layer("ICMP", "internet", 3, 34, 40)]
    return packet(n, t, src, dst, 1, ip_id=900 + n, layers=layers,
                  icmp=icmp_header(4, itype, f"type {itype}", code=code, **fields))


def udp(n: int, t: int, src: tuple, dst: tuple, ttl: int = 64, ip_id: int = 0,
        size: int = 11) -> PacketRecord:
    return packet(n, t, src[0], dst[0], 17, ttl=ttl, ip_id=ip_id, role="udp",
                  udp=udp_header(src[1], dst[1], size + 8, sha1="s"))


def test_an_echo_request_is_the_sendto_of_a_ping_socket_and_its_reply_the_kernels() -> None:
    calls = [
        call(1, "h1", "1:3:1", "socket", 0, args={"family": "AF_INET", "type": "SOCK_DGRAM", "proto": 1}),
        call(
            2, "h1", "1:3:1", "sendto", 100, local=[H1, 4242], dgram={"peer": [H2, 0], "len": 40, "sha1": "x"}
        ),
        call(
            3,
            "h1",
            "1:3:1",
            "recvfrom",
            150,
            t_end_ns=400,
            local=[H1, 4242],
            dgram={"peer": [H2, 0], "len": 40, "sha1": "y"},
        ),
    ]
    att = Attributor(calls, ip_nodes={H1: "h1", H2: "h2"})
    req = att.cause(icmp(1, 200, H1, H2, 8, echo={"id": 4242, "seq": 1}))
    assert req["source"] == "call" and req["calls"] == [2] and req["rule"] == "icmp-echo-request"
    assert "identifier 4242" in req["text"] and "sequence 1" in req["text"]
    reply = att.cause(icmp(2, 300, H2, H1, 0, echo={"id": 4242, "seq": 1}))
    assert reply["source"] == "kernel" and reply["node"] == "h2" and reply["answers"] == 1
    assert reply["consumed_by"] == [3] and "no program answers a ping" in reply["text"]


def test_time_exceeded_names_the_router_the_frame_and_the_ttl_and_who_read_it() -> None:
    calls = [
        call(
            1,
            "h1",
            "1:3:1",
            "setsockopt",
            50,
            args={"level": "IPPROTO_IP", "optname": "IP_RECVERR", "value": 1},
        ),
        call(
            2,
            "h1",
            "1:3:1",
            "sendto",
            100,
            local=[H1, 5000],
            dgram={"peer": [H2, 33434], "len": 11, "sha1": "s"},
        ),
        call(3, "h1", "1:3:1", "recvmsg", 400, args={"flags": "MSG_ERRQUEUE"}),
    ]
    att = Attributor(calls, ip_nodes={H1: "h1", H2: "h2", R1: "r1"})
    probe = att.cause(udp(1, 200, (H1, 5000), (H2, 33434), ttl=1, ip_id=0))
    assert probe["calls"] == [2]
    quoted = {"src": H1, "dst": H2, "proto": 17, "sport": 5000, "dport": 33434, "id": 0}
    err = att.cause(icmp(2, 300, R1, H1, 11, 0, quoted=quoted))
    assert err["rule"] == "icmp-time-exceeded" and err["node"] == "r1" and err["answers"] == 1
    assert "TTL reached 0 (it arrived with TTL 1)" in err["text"]
    assert err["consumed_by"] == [3] and "error queue (IP_RECVERR)" in err["text"]


def test_port_unreachable_is_heard_only_by_a_connected_socket() -> None:
    calls = [
        call(
            1, "h1", "1:3:1", "sendto", 100, local=[H1, 5001], dgram={"peer": [H2, 9], "len": 11, "sha1": "s"}
        ),
        call(2, "h1", "1:3:1", "recvfrom", 110, t_end_ns=900, exception="TimeoutError"),
        call(3, "h1", "1:3:2", "connect", 1000, local=[H1, 5002], peer=[H2, 9]),
        call(
            4,
            "h1",
            "1:3:2",
            "send",
            1100,
            local=[H1, 5002],
            peer=[H2, 9],
            dgram={"peer": [H2, 9], "len": 11, "sha1": "s"},
        ),
        call(5, "h1", "1:3:2", "recv", 1110, t_end_ns=1300, exception="ConnectionRefusedError"),
    ]
    att = Attributor(calls, ip_nodes={H1: "h1", H2: "h2"})
    att.cause(udp(1, 200, (H1, 5001), (H2, 9), ip_id=1))
    q1 = {"src": H1, "dst": H2, "proto": 17, "sport": 5001, "dport": 9, "id": 1}
    unheard = att.cause(icmp(2, 250, H2, H1, 3, 3, quoted=q1))
    assert unheard["rule"] == "icmp-port-unreachable" and "consumed_by" not in unheard
    assert "no socket on h2 is bound to UDP port 9" in unheard["text"]
    assert "unconnected UDP socket is not told" in unheard["text"]  # the TimeoutError is not "hearing" it
    att.cause(udp(3, 1200, (H1, 5002), (H2, 9), ip_id=2))
    q2 = {**q1, "sport": 5002, "id": 2}
    heard = att.cause(icmp(4, 1250, H2, H1, 3, 3, quoted=q2))
    assert (
        heard["answers"] == 3
        and heard["consumed_by"] == [5]
        and "raised ConnectionRefusedError" in heard["text"]
    )


def test_fragmentation_needed_says_size_and_next_mtu_and_so_error() -> None:
    calls = [
        call(
            1,
            "h1",
            "1:3:1",
            "send",
            100,
            local=[H1, 5003],
            peer=[H2, 7],
            dgram={"peer": [H2, 7], "len": 1400, "sha1": "s"},
        ),
        call(
            2, "h1", "1:3:1", "getsockopt", 500, args={"level": "SOL_SOCKET", "optname": "SO_ERROR"}, ret=90
        ),
    ]
    att = Attributor(calls, ip_nodes={H1: "h1", H2: "h2", R1: "r3"})
    big = udp(1, 200, (H1, 5003), (H2, 7), ip_id=77, size=1400)
    big["len"] = big["caplen"] = 14 + 1428
    att.cause(big)
    quoted = {"src": H1, "dst": H2, "proto": 17, "sport": 5003, "dport": 7, "id": 77}
    err = att.cause(icmp(2, 300, R1, H1, 3, 4, quoted=quoted, mtu=1280))
    assert err["rule"] == "icmp-frag-needed" and err["node"] == "r3"
    assert "1428 bytes with Don't Fragment set do not fit the next link's MTU 1280" in err["text"]
    assert err["consumed_by"] == [2] and "SO_ERROR = 90 (EMSGSIZE)" in err["text"]


def igmp(n: int, t: int, src: str, record: int, group: str = "239.1.2.3") -> PacketRecord:
    return packet(n, t, src, "224.0.0.22", 2, ttl=1, ip_id=n, role="igmp", igmp={
        "type": 0x22,
        "name": "v3 membership report",
        "group": None,
        "records": [{"type": record, "name": "x", "group": group, "sources": []}],
    })


def test_igmp_join_is_the_setsockopt_the_leave_the_close_and_repeats_are_the_kernels() -> None:
    mreq = "ef010203c6120002"  # 239.1.2.3 on 198.18.0.2
    calls = [
        call(
            1,
            "h2",
            "2:3:1",
            "setsockopt",
            100,
            args={"level": "IPPROTO_IP", "optname": "IP_ADD_MEMBERSHIP", "value": mreq, "optlen": 8},
        ),
        call(2, "h2", "2:3:1", "close", 5000),
    ]
    att = Attributor(calls, ip_nodes={"198.18.0.2": "h2"})
    join = att.cause(igmp(1, 200, "198.18.0.2", 4))
    assert (join["source"], join["rule"], join["calls"]) == ("call", "igmp-join", [1])
    repeat = att.cause(igmp(2, 900, "198.18.0.2", 4))
    assert (
        repeat["source"] == "kernel" and repeat["rule"] == "igmp-join-repeat" and "frame 1" in repeat["text"]
    )
    leave = att.cause(igmp(3, 5100, "198.18.0.2", 3))
    assert (leave["source"], leave["rule"], leave["calls"]) == ("call", "igmp-leave", [2])
    stranger = att.cause(igmp(4, 5200, "198.18.0.9", 4, group="239.9.9.9"))
    assert stranger["rule"] == "igmp-join-untraced" and stranger["source"] == "kernel"
