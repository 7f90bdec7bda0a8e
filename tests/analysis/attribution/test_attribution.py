"""Attribution rules on a hand-built TCP echo and UDP exchange: complete records, as the real logs have them
(``tests.helpers.attribution`` builds them and checks every record against the shipped schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.analysis.attribution import coverage
from lab.analysis.pipeline import analyze_capture
from lab.records import CallRecord, PacketRecord
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.attribution import call, packet_record
from tests.helpers.builders import arp as arp_header
from tests.helpers.builders import eth, ip
from tests.helpers.builders import icmp as icmp_header
from tests.helpers.builders import tcp as tcp_header
from tests.helpers.builders import udp as udp_header

C, S = ("198.18.0.1", 40000), ("198.18.0.2", 5000)
ISN_C, ISN_S = 1000, 5000


def tcp(
    n: int, t: int, src, dst, flags: str, seq: int, ack: int, length: int = 0, **kw: Any
) -> PacketRecord:
    header = tcp_header(src[1], dst[1], flags, seq_raw=seq, ack_raw=ack, length=length,
                        win=kw.pop("win", 500))
    fi = header["flags_int"]
    code = {"SYN": "syn", "SYN,ACK": "syn-ack"}.get(flags, "data" if length else "ack")
    if fi & 1:
        code = "fin"
    if fi & 4:
        code = "rst"
    return packet_record(
        number=n,
        ts_ns=t,
        role=code,
        analysis=kw.pop("analysis", []),
        ip=ip(src[0], dst[0], 6),
        tcp=header,
    )


def echo_calls() -> list[CallRecord]:
    lp = {"local": ["0.0.0.0", 5000]}
    cs = {"local": list(C), "peer": list(S)}
    ss = {"local": list(S), "peer": list(C)}
    return [
        call(1, "h2", "2:3:1", "bind", 10, **lp),
        call(2, "h2", "2:3:1", "listen", 20, args={"backlog": 5}, **lp),
        call(
            3,
            "h2",
            "2:3:1",
            "accept",
            30,
            t_end_ns=400,
            ret={"fd": 4, "sock": "2:4:1", "peer": list(C)},
            **lp,
        ),
        call(4, "h1", "1:3:1", "connect", 100, t_end_ns=350, **cs),
        call(5, "h1", "1:3:1", "sendall", 500, nbytes=6, sent_after=6, **cs),
        call(6, "h1", "1:3:1", "sendall", 510, nbytes=4, sent_before=6, sent_after=10, **cs),
        call(7, "h2", "2:4:1", "recv", 505, t_end_ns=700, nbytes=10, recv_after=10, **ss),
        call(8, "h2", "2:4:1", "sendall", 800, nbytes=10, sent_after=10, **ss),
        call(
            9,
            "h1",
            "1:3:1",
            "recv",
            520,
            t_end_ns=900,
            nbytes=10,
            sent_before=10,
            sent_after=10,
            recv_after=10,
            **cs,
        ),
        call(
            10,
            "h1",
            "1:3:1",
            "close",
            1000,
            sent_before=10,
            sent_after=10,
            recv_before=10,
            recv_after=10,
            **cs,
        ),
        call(
            11,
            "h2",
            "2:4:1",
            "close",
            1200,
            sent_before=10,
            sent_after=10,
            recv_before=10,
            recv_after=10,
            **ss,
        ),
    ]


def test_tcp_echo_every_packet_has_its_call_or_kernel_duty() -> None:
    att = Attributor(echo_calls())
    pkts = [
        tcp(1, 200, C, S, "SYN", ISN_C, 0),
        tcp(2, 210, S, C, "SYN,ACK", ISN_S, ISN_C + 1),
        tcp(3, 220, C, S, "ACK", ISN_C + 1, ISN_S + 1),
        tcp(4, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 8),  # bytes 0-7: both sendall() calls
        tcp(5, 610, C, S, "PSH,ACK", ISN_C + 9, ISN_S + 1, 2),  # bytes 8-9: the second only
        tcp(6, 650, S, C, "ACK", ISN_S + 1, ISN_C + 11),
        tcp(7, 810, S, C, "PSH,ACK", ISN_S + 1, ISN_C + 11, 10),
        tcp(8, 1001, C, S, "FIN,ACK", ISN_C + 11, ISN_S + 11),
        tcp(9, 1201, S, C, "FIN,ACK", ISN_S + 11, ISN_C + 12),
        tcp(10, 1202, C, S, "ACK", ISN_C + 12, ISN_S + 12),
    ]
    causes = [att.cause(p) for p in pkts]
    assert causes[0]["rule"] == "syn-connect" and causes[0]["calls"] == [4]
    assert (
        causes[1]["rule"] == "syn-ack"
        and causes[1]["related"] == [2]
        and causes[1]["calls"] == []
        and causes[1]["answers"] == 1
    )
    assert "accept() takes no part" in causes[1]["text"]
    assert causes[2]["rule"] == "handshake-ack" and causes[2]["related"] == [4] and causes[2]["answers"] == 2
    assert causes[3]["calls"] == [5, 6] and causes[3]["consumed_by"] == [7]  # coalesced: two sendall()
    assert causes[4]["calls"] == [6] and "bytes 8-9" in causes[4]["text"]
    assert causes[5]["source"] == "kernel" and causes[5]["answers"] == 5
    # recv() #7 was already blocked when the data came: the ACK is the kernel's own, not recv()'s doing
    assert causes[5]["rule"] == "ack" and "inside" not in causes[5]["text"]
    assert causes[6]["calls"] == [8] and causes[6]["consumed_by"] == [9]
    assert causes[7]["rule"] == "fin-close" and causes[7]["calls"] == [10]
    assert causes[8]["rule"] == "fin-close" and causes[8]["calls"] == [11]
    assert causes[9]["rule"] == "ack-fin" and causes[9]["answers"] == 9
    cov = coverage(causes)
    assert cov["explained"] == cov["total"] == 10


def test_retransmitted_segment_names_the_original_frame() -> None:
    att = Attributor(echo_calls())
    for p in (
        tcp(1, 200, C, S, "SYN", ISN_C, 0),
        tcp(2, 210, S, C, "SYN,ACK", ISN_S, ISN_C + 1),
        tcp(3, 220, C, S, "ACK", ISN_C + 1, ISN_S + 1),
        tcp(4, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6),
    ):
        att.cause(p)
    again = att.cause(tcp(5, 900, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6, analysis=["retransmission"]))
    assert again["rule"] == "tcp-retransmit" and again["answers"] == 4 and again["related"] == [5]


def test_refused_connect_is_the_kernels_rst_answering_the_syn() -> None:
    calls = [
        call(
            1,
            "h1",
            "1:3:1",
            "connect_ex",
            100,
            t_end_ns=300,
            ret=111,
            error="ECONNREFUSED",
            local=list(C),
            peer=list(S),
        )
    ]
    att = Attributor(calls)
    assert att.cause(tcp(1, 150, C, S, "SYN", ISN_C, 0))["calls"] == [1]
    rst = att.cause(tcp(2, 160, S, C, "RST,ACK", 0, ISN_C + 1))
    assert rst["rule"] == "rst-refused" and rst["answers"] == 1 and rst["related"] == [1]
    assert "ECONNREFUSED" in rst["text"]


def test_close_with_unread_data_is_blamed_for_the_rst() -> None:
    calls = echo_calls()
    calls[-1] = call(
        11, "h2", "2:4:1", "close", 1200, recv_before=4, recv_after=4, local=list(S), peer=list(C)
    )
    att = Attributor(calls)
    for p in (
        tcp(1, 200, C, S, "SYN", ISN_C, 0),
        tcp(2, 210, S, C, "SYN,ACK", ISN_S, ISN_C + 1),
        tcp(3, 220, C, S, "ACK", ISN_C + 1, ISN_S + 1),
    ):
        att.cause(p)
    rst = att.cause(tcp(4, 1201, S, C, "RST,ACK", ISN_S + 1, ISN_C + 11))
    assert rst["rule"] == "rst-unread" and rst["calls"] == [11] and "6 unread bytes" in rst["text"]


def test_udp_datagrams_match_sendto_and_recvfrom_by_tuple_length_and_hash() -> None:
    a, b = ("198.18.0.1", 33000), ("198.18.0.2", 9999)
    dg = {"type": "SOCK_DGRAM"}
    calls = [
        call(
            1,
            "h2",
            "2:3:1",
            "recvfrom",
            10,
            t_end_ns=300,
            nbytes=5,
            local=list(b),
            recv_after=5,
            dgram={"peer": list(a), "len": 5, "sha1": "bbbb"},
            **dg,
        ),
        call(
            2,
            "h1",
            "1:3:1",
            "sendto",
            100,
            nbytes=5,
            local=list(a),
            sent_after=5,
            dgram={"peer": list(b), "len": 5, "sha1": "aaaa"},
            **dg,
        ),
        call(
            3,
            "h1",
            "1:3:1",
            "sendto",
            110,
            nbytes=5,
            local=list(a),
            sent_before=5,
            sent_after=10,
            dgram={"peer": list(b), "len": 5, "sha1": "bbbb"},
            **dg,
        ),
    ]
    att = Attributor(calls)

    def udp(n: int, t: int, sha: str) -> PacketRecord:
        return packet_record(number=n, ts_ns=t, role="udp", ip=ip(a[0], b[0], 17, ip_id=n),
                             udp=udp_header(a[1], b[1], 13, sha1=sha))

    first, second = att.cause(udp(1, 105, "aaaa")), att.cause(udp(2, 115, "bbbb"))
    assert first["calls"] == [2] and "consumed_by" not in first  # hash differs from what recvfrom got
    assert second["calls"] == [3] and second["consumed_by"] == [1]


def test_unknown_packets_are_reported_unexplained_not_hidden() -> None:
    cause = Attributor([]).cause(packet_record(number=1, ts_ns=1))
    assert cause["source"] == "unexplained"
    assert coverage([cause])["explained"] == 0


def _handshake(att: Attributor) -> None:
    for p in (
        tcp(1, 200, C, S, "SYN", ISN_C, 0),
        tcp(2, 210, S, C, "SYN,ACK", ISN_S, ISN_C + 1),
        tcp(3, 220, C, S, "ACK", ISN_C + 1, ISN_S + 1),
    ):
        att.cause(p)


def test_a_close_that_only_drops_a_makefile_reference_sends_no_fin() -> None:
    cs = {"local": list(C), "peer": list(S)}
    calls = [
        call(1, "h1", "1:3:1", "connect", 100, t_end_ns=300, **cs),
        call(2, "h1", "1:3:1", "close", 400, args={"deferred": True}, **cs),
        call(3, "h1", "1:3:1", "close", 600, args={"via": "makefile"}, **cs),
    ]
    att = Attributor(calls)
    _handshake(att)
    fin = att.cause(tcp(4, 601, C, S, "FIN,ACK", ISN_C + 1, ISN_S + 1))
    assert fin["rule"] == "fin-close" and fin["calls"] == [3]


def test_fin_at_process_exit_is_the_kernels() -> None:
    cs = {"local": list(C), "peer": list(S)}
    calls = [
        call(1, "h1", "1:3:1", "connect", 100, t_end_ns=300, **cs),
        call(2, "h1", "1:3:1", "exit", 700, **cs),
    ]
    att = Attributor(calls)
    _handshake(att)
    fin = att.cause(tcp(4, 701, C, S, "FIN,ACK", ISN_C + 1, ISN_S + 1))
    assert fin["source"] == "kernel" and fin["rule"] == "fin-exit" and fin["related"] == [2]


def test_an_ack_is_inside_recv_only_when_recv_read_queued_data() -> None:
    cs, ss = {"local": list(C), "peer": list(S)}, {"local": list(S), "peer": list(C)}
    calls = [
        call(1, "h1", "1:3:1", "connect", 100, t_end_ns=300, **cs),
        call(2, "h1", "1:3:1", "sendall", 500, nbytes=6, sent_after=6, **cs),
        call(3, "h2", "2:4:1", "recv", 640, t_end_ns=700, nbytes=6, recv_after=6, **ss),
    ]
    att = Attributor(calls)
    _handshake(att)
    att.cause(tcp(4, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6))  # queued: recv() starts at 640
    ack = att.cause(tcp(5, 650, S, C, "ACK", ISN_S + 1, ISN_C + 7))
    assert ack["rule"] == "ack-in-recv" and ack["related"] == [3] and ack["answers"] == 4


def test_a_reused_port_starts_a_new_connection() -> None:
    att = Attributor(echo_calls())
    _handshake(att)
    att.cause(tcp(4, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6))
    syn = att.cause(tcp(5, 2000, C, S, "SYN", ISN_C + 99999, 0))
    assert syn["rule"] == "syn-connect"  # not a retransmission of the first connection's SYN


def test_the_syn_ack_answers_the_retransmitted_syn() -> None:
    att = Attributor(echo_calls())
    att.cause(tcp(1, 200, C, S, "SYN", ISN_C, 0))
    retry = att.cause(tcp(2, 1200, C, S, "SYN", ISN_C, 0))
    synack = att.cause(tcp(3, 1210, S, C, "SYN,ACK", ISN_S, ISN_C + 1))
    assert retry["rule"] == "syn-retransmit" and retry["answers"] == 1
    assert synack["answers"] == 2


def test_a_forwarded_copy_keeps_the_cause_decided_where_it_was_first_seen() -> None:
    att = Attributor(echo_calls())

    def on(link: str, rec: PacketRecord, ip_id: int) -> dict[str, Any]:
        rec["interface"] = link
        rec["ip"]["id"] = ip_id
        return att.cause(rec)

    on("h1-eth0", tcp(1, 200, C, S, "SYN", ISN_C, 0), 1)
    on("r1-eth1", tcp(2, 201, C, S, "SYN", ISN_C, 0), 1)
    on("r1-eth1", tcp(3, 210, S, C, "SYN,ACK", ISN_S, ISN_C + 1), 9)
    on("h1-eth0", tcp(4, 211, S, C, "SYN,ACK", ISN_S, ISN_C + 1), 9)
    on("h1-eth0", tcp(5, 220, C, S, "ACK", ISN_C + 1, ISN_S + 1), 2)
    on("h1-eth0", tcp(6, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6), 3)  # lost before r1-eth1
    retrans = on("h1-eth0", tcp(7, 900, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6), 4)
    far = on("r1-eth1", tcp(8, 901, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6), 4)
    assert retrans["rule"] == "tcp-retransmit"
    assert far["rule"] == "tcp-retransmit" and far["copy_of"] == 7 and far["source"] == "kernel"


def _udp_rec(n: int, t: int, src, dst, length: int, sha: str) -> PacketRecord:
    return packet_record(number=n, ts_ns=t, role="udp", interface="h1-eth0",
                         ip=ip(src[0], dst[0], 17, ip_id=n),
                         udp=udp_header(src[1], dst[1], length + 8, sha1=sha))


def test_a_datagram_cut_by_a_small_receive_buffer_is_flagged() -> None:
    a, b = ("198.18.0.1", 33000), ("198.18.0.2", 9999)
    dg = {"type": "SOCK_DGRAM"}
    calls = [
        call(
            1,
            "h1",
            "1:3:1",
            "sendto",
            100,
            nbytes=100,
            local=list(a),
            sent_after=100,
            dgram={"peer": list(b), "len": 100, "sha1": "full"},
            **dg,
        ),
        call(
            2,
            "h2",
            "2:3:1",
            "recvfrom",
            50,
            t_end_ns=300,
            nbytes=10,
            local=list(b),
            recv_after=10,
            dgram={"peer": list(a), "len": 10, "sha1": "part"},
            **dg,
        ),
    ]
    cause = Attributor(calls).cause(_udp_rec(1, 110, a, b, 100, "full"))
    assert cause["calls"] == [1] and cause["consumed_by"] == [2] and cause["truncated"] is True
    assert "TRUNCATED to 10 of 100 bytes" in cause["text"]


def test_an_icmp_error_answers_the_packet_it_quotes() -> None:
    a, b = ("198.18.0.1", 33000), ("198.18.0.2", 9)
    att = Attributor([])
    att.cause(_udp_rec(1, 100, a, b, 4, "x"))
    icmp = packet_record(**{
        "number": 2,
        "ts_ns": 110,
        "role": "icmp-error",
        "ip": ip(b[0], a[0], 1, ip_id=7),
        "icmp": icmp_header(4, 3, "port unreachable", code=3,
                            quoted={"src": a[0], "dst": b[0], "proto": 17, "sport": a[1], "dport": b[1]}),
    })
    cause = att.cause(icmp)
    assert cause["source"] == "kernel" and cause["rule"] == "icmp-port-unreachable" and cause["answers"] == 1
    assert "no socket on 198.18.0.2 is bound to UDP port 9" in cause["text"]


def test_a_late_ack_is_named_delayed() -> None:
    att = Attributor(echo_calls())
    _handshake(att)
    att.cause(tcp(4, 600, C, S, "PSH,ACK", ISN_C + 1, ISN_S + 1, 6))
    ack = att.cause(tcp(5, 600 + 41_000_000, S, C, "ACK", ISN_S + 1, ISN_C + 7))
    assert ack["rule"] == "delayed-ack" and ack["answers"] == 4 and "41 ms" in ack["text"]


def test_arp_names_the_call_whose_packet_waits_for_it() -> None:
    att = Attributor(echo_calls())
    arp = packet_record(
        number=1,
        ts_ns=150,
        role="arp-request",
        eth=eth("02:00:00:00:01:00", "ff:ff:ff:ff:ff:ff"),
        arp=arp_header(1, C[0], S[0], sender_mac="02:00:00:00:01:00"),
    )
    cause = att.cause(arp)
    assert cause["rule"] == "arp-request" and cause["related"] == [4] and "connect() #4" in cause["text"]
    reply = packet_record(
        number=2,
        ts_ns=160,
        role="arp-reply",
        arp=arp_header(2, S[0], C[0], sender_mac="02:00:00:00:02:00", target_mac="02:00:00:00:01:00"),
    )
    assert att.cause(reply)["answers"] == 1


def _no_time(p: PacketRecord) -> bool:
    return p["ts_ns"] is None


def _cut_tcp_header(p: PacketRecord) -> bool:
    return p["tcp"] is not None and p["tcp"]["flags"] is None


def test_no_time_or_a_cut_header_is_explained_not_a_crash(corpus_dir: Path, tmp_path: Path) -> None:
    """The records say a frame may have no timestamp (a pcapng Simple Packet Block: ``ts_ns`` null) and a TCP
    header may be cut short (its fields null); with a call log the rules must still say something of each."""
    pcaps = corpus_dir / "pcaps"
    for name, check in (
        ("pcapng-test-generator__le_test202.pcapng", _no_time),
        ("tcpdump__tcp_header_heapoverflow.pcap", _cut_tcp_header),
    ):
        out = tmp_path / name
        attributor = Attributor(echo_calls())
        analyze_capture(pcaps / name, out, attributor=attributor, progress=False)
        packets = [json.loads(line) for line in (out / "packets.jsonl").read_text().splitlines()]
        odd = [p for p in packets if check(p)]
        assert odd and attributor.checked == len(packets), name  # every record in and out validated
        if name.startswith("tcpdump"):
            assert {(p["cause"]["source"], p["cause"]["text"]) for p in odd} == {
                ("unexplained", "truncated or malformed TCP header")}  # as lab analyze says without calls


def test_identical_datagrams_are_matched_in_order_on_every_link() -> None:
    """Three sends of the same bytes, each datagram seen on two links: on each link the first datagram is
    the first send, the second the second (a matched call is never matched again on that link, and the
    matcher that skips the matched ones finds the same calls as a full search)."""
    a, b = ("198.18.0.1", 33000), ("198.18.0.2", 9999)
    dg = {"type": "SOCK_DGRAM", "local": list(a), "nbytes": 4}
    calls = [call(i, "h1", "1:3:1", "sendto", 100 * i, sent_before=4 * (i - 1), sent_after=4 * i,
                  dgram={"peer": list(b), "len": 4, "sha1": "same"}, **dg) for i in (1, 2, 3)]
    att = Attributor(calls)
    seen = []
    for n, (t, link) in enumerate([(105, "h1-eth0"), (106, "r1-eth1"), (205, "h1-eth0"), (206, "r1-eth1"),
                                   (305, "h1-eth0")], 1):
        rec = _udp_rec(n, t, a, b, 4, "same")
        rec["interface"] = link
        rec["ip"]["id"] = 1000 + n  # not one packet forwarded: each sighting is matched on its own link
        seen.append(att.cause(rec)["calls"])
    assert seen == [[1], [1], [2], [2], [3]]
