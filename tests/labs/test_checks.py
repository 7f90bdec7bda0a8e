"""Every check on small synthetic records: one case where the evidence agrees, one where it does not."""

from __future__ import annotations

import pytest

from lab.labs import checks
from lab.labs.checks import CHECKS
from tests.helpers.builders import cause, datagram
from tests.helpers.labrecords import H1, H2, Capture, call, echo_session, routed_syn

C, S = (H1, 40000), (H2, 5000)


def test_every_check_is_registered_under_its_name() -> None:
    assert all(fn.__name__ == name for name, fn in CHECKS.items())


def test_role_count_counts_one_capture_point_and_can_fail() -> None:
    packets, calls = echo_session()
    assert checks.role_count(packets, calls, role="syn", count=1)[0]
    ok, detail = checks.role_count(packets, calls, role="syn", count=2)
    assert not ok and "1 syn" in detail
    assert not checks.role_count(packets, calls, role="rst", min=1)[0]
    # the same SYN captured on a second link is still one SYN per capture point
    cap = Capture()
    cap.packets = list(packets)
    cap.tcp(C, S, "SYN", role="syn", iface="r1-eth1")
    assert checks.role_count(cap.packets, calls, role="syn", count=1)[0]


def test_role_count_with_analysis_list_and_app() -> None:
    cap = Capture()
    cap.tcp(C, S, "ACK", role="ack", analysis=["duplicate_ack"])
    cap.tcp(C, S, "PSH,ACK", role="data", length=5, analysis=["fast_retransmission"], app="HTTP")
    assert checks.role_count(cap.packets, [], analysis=["retransmission", "out_of_order"], min=1)[0]
    assert checks.role_count(cap.packets, [], app="http", count=1)[0]
    assert not checks.role_count(cap.packets, [], analysis="lost_segment", min=1)[0]


def test_handshake_before_accept() -> None:
    packets, calls = echo_session(accept_at=0.010)
    ok, detail = checks.handshake_before_accept(packets, calls)
    assert ok and "frame 3" in detail
    packets, calls = echo_session(accept_at=0.0025)  # accept() "returned" before the final ACK (3 ms)
    assert not checks.handshake_before_accept(packets, calls)[0]
    assert not checks.handshake_before_accept(packets, [])[0]


def test_silent_calls_ignores_kernel_packets_that_only_name_the_call() -> None:
    packets, calls = echo_session()
    ok, detail = checks.silent_calls(packets, calls, names=["bind", "listen"])
    assert ok, detail  # the SYN-ACK names listen() #4 but was sent by the kernel
    packets[0]["cause"] = cause("call", "syn-connect", calls=[4])  # sent by listen(): impossible, detectable
    assert not checks.silent_calls(packets, calls, names=["bind", "listen"])[0]


def test_silent_calls_time_window() -> None:
    packets, calls = echo_session()
    calls.append(
        call(20, "recv", node="h1", at=0.0039, took=0.0002, exception="BlockingIOError", local=list(C))
    )
    ok, detail = checks.silent_calls(packets, calls, names=["recv"], exception="BlockingIOError")
    assert not ok and "during recv()" in detail  # frame 4 left h1 at 4 ms, inside the call's window
    assert not checks.silent_calls(packets, calls, names=["accept"], exception="BlockingIOError")[0]


def test_call_result() -> None:
    calls = [
        call(1, "connect_ex", ret=111, error="ECONNREFUSED"),
        call(2, "connect", error="ECONNREFUSED", exception="ConnectionRefusedError"),
        call(3, "send", ret=100, args={"nbytes": 100}),
    ]
    assert checks.call_result([], calls, call="connect_ex", error="ECONNREFUSED")[0]
    assert checks.call_result([], calls, call="connect", exception="ConnectionRefusedError")[0]
    assert not checks.call_result([], calls, call="connect", exception="TimeoutError")[0]
    assert checks.call_result([], calls, call="send", ok=True, exact=True, count=1)[0]
    assert not checks.call_result([], calls, call="sendall", ok=True, exact=True)[0]


def test_connects_before_accept() -> None:
    calls = [
        call(1, "connect", at=0.001),
        call(2, "connect", at=0.002),
        call(3, "connect", at=1.0, took=1.0),
        call(4, "accept", node="h2", at=0.5, ret={"peer": list(C)}),
    ]
    assert checks.connects_before_accept([], calls, min=2)[0]
    assert not checks.connects_before_accept([], calls, min=3)[0]


def test_fin_each_direction_and_half_close() -> None:
    packets, calls = echo_session()
    assert checks.fin_each_direction(packets, calls)[0]
    assert not checks.fin_each_direction(packets, calls, min_connections=2)[0]
    assert not checks.half_close(packets, calls)[0]  # the server sent no data after the client's FIN
    cap = Capture()
    cap.tcp(C, S, "FIN,ACK", role="fin", seq=11)
    cap.tcp(S, C, "PSH,ACK", role="data", length=20, from_client=False)
    assert checks.half_close(cap.packets, [])[0]


def test_rst_answers_syn() -> None:
    cap = Capture()
    cap.tcp(C, (H2, 5999), "SYN", role="syn", seq_raw=777)
    cap.tcp((H2, 5999), C, "RST,ACK", role="rst", ack_raw=778, from_client=False)
    assert checks.rst_answers_syn(cap.packets, [], port=5999)[0]
    cap.packets[1]["tcp"]["ack_raw"] = 777
    assert not checks.rst_answers_syn(cap.packets, [], port=5999)[0]
    assert not checks.rst_answers_syn(cap.packets, [], port=1234)[0]


def test_syn_backoff_needs_growing_intervals() -> None:
    def syns(times: list[float]) -> list:
        cap = Capture()
        for t in times:
            cap.tcp(C, (H2, 5005), "SYN", role="syn", at=t)
        return cap.packets

    assert checks.syn_backoff(syns([0.0, 1.0, 3.0]), [], port=5005)[0]
    ok, detail = checks.syn_backoff(syns([0.0, 1.0, 2.0, 3.0]), [], port=5005)
    assert not ok and "[1.0, 1.0, 1.0]" in detail  # linear timeouts are not backoff
    assert not checks.syn_backoff(syns([0.0, 1.0]), [], port=5005, min_syns=3)[0]


def test_quiet_during() -> None:
    packets, calls = echo_session()
    calls.append(call(30, "recv", at=0.0085, took=1.0, exception="TimeoutError", local=list(C), peer=list(S)))
    assert checks.quiet_during(packets, calls, call="recv", exception="TimeoutError")[0]
    calls[-1] = call(30, "recv", at=0.0035, took=1.0, exception="TimeoutError", local=list(C), peer=list(S))
    assert not checks.quiet_during(packets, calls, call="recv", exception="TimeoutError")[0]


def test_send_partial() -> None:
    assert checks.send_partial([], [call(1, "send", ret=32768, args={"nbytes": 262144})])[0]
    assert not checks.send_partial([], [call(1, "send", ret=100, args={"nbytes": 100})])[0]


def test_segments_within_mss_and_mss_announced() -> None:
    packets, calls = echo_session()
    assert checks.segments_within_mss(packets, calls)[0]
    assert checks.mss_announced(packets, calls, role="syn", mss=1460)[0]
    assert not checks.mss_announced(packets, calls, role="syn-ack", mss=1240)[0]
    packets[3]["tcp"]["len"] = 3000  # a GSO-sized "segment"
    assert not checks.segments_within_mss(packets, calls)[0]


def test_payload_matches_calls() -> None:
    packets, calls = echo_session()
    assert checks.payload_matches_calls(packets, calls)[0]
    calls[-1]["sent_after"] = 11
    ok, detail = checks.payload_matches_calls(packets, calls)
    assert not ok and "calls sent 11 bytes, wire carried 10" in detail


def test_datagram_per_call_with_wildcard_bound_sender() -> None:
    cap = Capture()
    cap.udp((H1, 60000), (H2, 5001), 3, at=0.002)
    sends = [
        call(
            1,
            "sendto",
            at=0.001,
            type="SOCK_DGRAM",
            local=["0.0.0.0", 60000],
            nbytes=3,
            dgram=datagram([H2, 5001], 3),
        )
    ]
    assert checks.datagram_per_call(cap.packets, sends)[0]
    sends.append(
        call(
            2,
            "sendto",
            at=0.003,
            type="SOCK_DGRAM",
            local=["0.0.0.0", 60000],
            nbytes=4,
            dgram=datagram([H2, 5001], 4),
        )
    )
    assert not checks.datagram_per_call(cap.packets, sends)[0]


def test_ephemeral_port_and_peername() -> None:
    packets, calls = echo_session()
    calls += [
        call(9, "getsockname", ret=list(C), local=list(C), peer=list(S)),
        call(10, "getpeername", node="h2", sock="2:4:1", ret=list(C), local=list(S), peer=list(C)),
    ]
    assert checks.ephemeral_port(packets, calls)[0]
    assert checks.peername_matches_syn(packets, calls)[0]
    assert not checks.ephemeral_port(packets, calls, low=50000, high=60999)[0]  # 40000 is not in range


def test_ttl_ethernet_and_arp_per_hop() -> None:
    cap = routed_syn()
    assert checks.ttl_per_hop(cap.packets, [], routers=2)[0]
    assert not checks.ttl_per_hop(cap.packets, [], routers=3)[0]
    assert checks.new_ethernet_per_link(cap.packets, [], links=3)[0]
    assert checks.arp_per_link(cap.packets, [], links=3)[0]
    assert not checks.arp_per_link(cap.packets, [], links=4)[0]
    cap.packets[2]["eth"] = dict(cap.packets[1]["eth"])  # same Ethernet header on two links
    assert not checks.new_ethernet_per_link(cap.packets, [], links=3)[0]


def test_fragments() -> None:
    cap = Capture()
    cap.fragment(H1, H2, offset=0, mf=True, size=1276, node="r1", iface="r1-eth1")
    cap.fragment(H1, H2, offset=1256, mf=True, size=244, node="r1", iface="r1-eth1")
    cap.fragment(H1, H2, offset=1480, mf=False, size=948, node="r1", iface="r1-eth1")
    assert checks.fragments(cap.packets, [], node="r1", max_len=1280, min=3)[0]
    assert not checks.fragments(cap.packets, [], node="r1", max_len=1000)[0]
    assert not checks.fragments(cap.packets, [], node="h1", max_len=1500)[0]


def test_tcp_loss_per_capture_point() -> None:
    cap = Capture()
    for seq in (1, 101, 301):  # 201 missing: a gap
        cap.tcp(C, S, "ACK", role="data", seq=seq, length=100, iface="r1-eth1")
    for _ in range(2):
        cap.tcp(S, C, "ACK", role="ack", ack_raw=201, from_client=False, iface="r1-eth1")
    cap.tcp(C, S, "ACK", role="data", seq=201, length=100, iface="r1-eth1")
    assert checks.tcp_loss(cap.packets, [], kind="gap")[0]
    assert checks.tcp_loss(cap.packets, [], kind="dup_ack")[0]
    assert checks.tcp_loss(cap.packets, [], kind="resent")[0]  # 201 came after 301: below the top
    # the same segments on two links are not retransmissions
    clean = Capture()
    for iface in ("h1-eth0", "r1-eth1"):
        for seq in (1, 101):
            clean.tcp(C, S, "ACK", role="data", seq=seq, length=100, iface=iface)
    for kind in ("gap", "resent", "dup_ack"):
        assert not checks.tcp_loss(clean.packets, [], kind=kind)[0]
    with pytest.raises(ValueError):
        checks.tcp_loss(clean.packets, [], kind="nope")


def test_application_checks() -> None:
    cap = Capture()
    cap.tcp((H2, 25), C, "PSH,ACK", role="data", length=30, from_client=False, at=0.001)
    cap.tcp(C, (H2, 25), "PSH,ACK", role="data", length=10, at=0.002)
    assert checks.server_speaks_first(cap.packets, [], port=25)[0]
    cap.packets[1]["ts_ns"] -= 5_000_000  # the client's segment first
    assert not checks.server_speaks_first(cap.packets, [], port=25)[0]
    tftp = Capture()
    tftp.udp((H1, 50000), (H2, 69), 16)
    tftp.udp((H2, 41000), (H1, 50000), 516)
    assert checks.new_tid(tftp.packets, [], port=69)[0]
    tftp.packets[1]["udp"]["sport"] = 69
    assert not checks.new_tid(tftp.packets, [], port=69)[0]


def test_no_protocol() -> None:
    cap = Capture()
    cap.udp((H1, 1), (H2, 2), 5)
    assert checks.no_protocol(cap.packets, [], proto="tcp")[0]
    assert not checks.no_protocol(cap.packets, [], proto="udp")[0]
    assert not checks.no_protocol([], [], proto="tcp")[0]  # nothing captured proves nothing


def test_app_named() -> None:
    cap = Capture()
    cap.udp((H1, 40000), (H2, 53), 29, app="DNS")
    cap.udp((H2, 53), (H1, 40000), 45, app="DNS")
    cap.tcp(C, S, "ACK", role="ack")  # no payload: not judged
    assert checks.app_named(cap.packets, [], app="dns", min=2)[0]
    assert not checks.app_named(cap.packets, [], app="DNS", min=3)[0]
    cap.packets[1]["app"] = None
    ok, detail = checks.app_named(cap.packets, [], app="DNS")
    assert not ok and "1 of 2" in detail


def test_ip_version() -> None:
    packets, calls = echo_session()
    assert checks.ip_version(packets, calls, version=4, role="syn")[0]
    assert not checks.ip_version(packets, calls, version=6, role="syn")[0]
    assert not checks.ip_version(packets, calls, version=4, role="ndp-ns")[0]
