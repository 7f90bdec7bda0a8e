"""Calls as a student writes them in Python: arguments passed, result as Python returns it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from lab.tracing.calltext import SendWaits, call_text, duration_text
from tests.helpers.builders import call, cause, eth, ip, layer, packet, tcp

if TYPE_CHECKING:
    from lab.records import CallRecord, PacketRecord


rec = call


def test_socket_shows_family_type_and_protocol() -> None:
    tcp = rec("socket", args={"family": "AF_INET", "type": "SOCK_STREAM", "proto": 6}, ret="1:3:1")
    assert call_text(tcp) == "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP=6) -> fd 3"
    udp = rec("socket", args={"family": "AF_INET", "type": "SOCK_DGRAM", "proto": 0}, ret="1:3:1")
    assert call_text(udp) == "socket(AF_INET, SOCK_DGRAM, 0 (= IPPROTO_UDP 17)) -> fd 3"


def test_recvfrom_returns_data_and_address_tuple() -> None:
    c = rec("recvfrom", args={"bufsize": 1024, "preview": "one"}, ret=[3, ["198.18.0.1", 43063]], nbytes=3,
            type="SOCK_DGRAM")
    assert call_text(c) == "recvfrom(1024) -> (b'one' (3 B), ('198.18.0.1', 43063))"


def test_a_timeout_shows_the_buffer_size_and_pythons_message_once() -> None:
    c = rec("recv", args={"bufsize": 1024}, error="TimeoutError", exception="TimeoutError", nbytes=0,
            message="timed out")
    assert call_text(c) == "recv(1024) -> TimeoutError: timed out"
    # a record written before messages were kept (``message`` is not required)
    old = cast("CallRecord", {k: v for k, v in c.items() if k != "message"})
    assert call_text(old) == "recv(1024) -> TimeoutError: timed out"
    refused = rec("connect", args={"address": ["198.18.0.2", 5999]}, error="ECONNREFUSED",
                  exception="ConnectionRefusedError")
    assert call_text(refused) == ("connect(('198.18.0.2', 5999)) -> ConnectionRefusedError: [Errno 111] "
                                  "Connection refused")


def test_connect_ex_shows_its_number_and_the_windows_one() -> None:
    c = rec("connect_ex", args={"address": ["198.18.0.2", 5999]}, ret=111, error="ECONNREFUSED")
    assert call_text(c) == ("connect_ex(('198.18.0.2', 5999)) -> 111 (ECONNREFUSED; Windows reports 10061 "
                            "WSAECONNREFUSED for the same event)")


def test_fileno_accept_and_binary_data() -> None:
    assert call_text(rec("fileno", ret=3)) == "fileno() -> 3"
    acc = rec("accept", ret={"fd": 5, "sock": "1:5:1", "peer": ["198.18.0.1", 4000]})
    assert call_text(acc) == "accept() -> (<socket fd 5>, ('198.18.0.1', 4000))"
    send = rec("sendall", args={"nbytes": 3, "preview": "\\x00\\x01a"}, nbytes=3)
    assert call_text(send) == "sendall(b'\\x00\\x01a' (3 B)) -> None"


def _seg(ts: int, src: str, dst: str, sport: int, dport: int, *, length: int = 0, ack: int = 1,
         calls: list[int] | None = None) -> PacketRecord:
    """A complete packets.jsonl record of one TCP segment (valid against the shipped schema)."""
    why = (cause("call", "tcp-data-offset", "sent by a call", calls=calls) if calls
           else cause("kernel", "ack", "the kernel acknowledges", related=[]))
    return packet(
        1, ts, t=ts / 1e9, len=66 + length, caplen=66 + length, summary="TCP segment",
        layers=[layer("Ethernet", "link", 2, 0, 14), layer("IPv4", "internet", 3, 14, 20),
                layer("TCP", "transport", 4, 34, 32)],
        eth=eth("02:00:00:00:00:01", "02:00:00:00:00:02"), ip=ip(src, dst),
        tcp=tcp(sport, dport, "PSH,ACK" if length else "ACK", seq_raw=1000, ack_raw=1000 + ack, seq=1,
                ack=ack, length=length, win=502, from_client=sport == 4000),
        role="data", cause=why)


def test_a_send_that_only_took_long_did_not_block() -> None:
    """One segment left at once; its ACK came while the tracer held the call: overhead, not waiting."""
    send = rec("sendall", id=9, nbytes=8, sent_before=0, sent_after=8, local=["198.18.0.1", 4000],
               t_start_ns=0, t_end_ns=3_703_000)
    packets = [_seg(10_000, "198.18.0.1", "198.18.0.2", 4000, 5000, length=8, calls=[9]),
               _seg(50_000, "198.18.0.2", "198.18.0.1", 5000, 4000, ack=9)]
    waits = SendWaits(packets)
    assert waits.waited(send) is False
    assert "queued at once" in duration_text(send, False) and "3.703 ms" in duration_text(send, False)


def test_a_send_whose_bytes_left_after_the_peers_ack_blocked() -> None:
    send = rec("sendall", id=9, nbytes=200_000, sent_before=0, sent_after=200_000,
               local=["198.18.0.1", 4000], t_start_ns=0, t_end_ns=900_000)
    packets = [_seg(10_000, "198.18.0.1", "198.18.0.2", 4000, 5000, length=1448, calls=[9]),
               _seg(300_000, "198.18.0.2", "198.18.0.1", 5000, 4000, ack=1449),
               _seg(310_000, "198.18.0.1", "198.18.0.2", 4000, 5000, length=1448, calls=[9])]
    assert SendWaits(packets).waited(send) is True
    assert "blocked until the peer's ACKs" in duration_text(send, True)
    assert SendWaits(packets).waited(rec("recv", local=["198.18.0.1", 4000])) is None


def test_an_strace_recvfrom_shows_the_source_as_a_result() -> None:
    args = {"bufsize": 1024, "preview": "hi", "address": ["198.18.0.1", 9]}
    c = rec("recvfrom", tracer="strace", args=args, ret=2, nbytes=2, type="SOCK_DGRAM")
    assert call_text(c) == "recvfrom(1024) -> b'hi' (2 B) from ('198.18.0.1', 9)"
