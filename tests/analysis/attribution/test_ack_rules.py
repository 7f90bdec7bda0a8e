"""The pure-ACK rule table: the cases where the order of the rules, or when they move state, decides."""

from __future__ import annotations

from typing import Any

from lab.analysis.attribution.calllog import CallLog
from lab.analysis.attribution.tcp import TcpRules
from tests.helpers.attribution import packet_record
from tests.helpers.builders import TCP_FLAG_BITS, ip, tcp

C, S = ("198.18.0.1", 40000), ("198.18.0.2", 5000)
ISN_C, ISN_S = 1000, 5000
SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


class Wire:
    """Feeds one connection's segments, numbered in order, to a TcpRules with no call log."""

    def __init__(self) -> None:
        self.rules = TcpRules(CallLog([]))
        self.n = 0

    def send(
        self,
        src: tuple[str, int],
        flags: int,
        seq: int,
        ack: int,
        length: int = 0,
        *,
        t: int | None = None,
        win: int = 500,
        analysis: list[str] | None = None,
    ) -> dict[str, Any]:
        self.n += 1
        dst = S if src == C else C
        names = [name for name, bit in TCP_FLAG_BITS.items() if flags & bit]
        return self.rules.cause(
            packet_record(
                number=self.n,
                ts_ns=self.n * 1000 if t is None else t,
                interface="h1-eth0",
                role="ack",
                analysis=analysis if analysis is not None else [],
                ip=ip(src[0], dst[0], 6),
                tcp=tcp(src[1], dst[1], ",".join(names), seq_raw=seq, ack_raw=ack, length=length, win=win),
            )
        )

    def handshake(self) -> dict[str, Any]:
        self.send(C, SYN, ISN_C, 0)
        self.send(S, SYN | ACK, ISN_S, ISN_C + 1)
        return self.send(C, ACK, ISN_C + 1, ISN_S + 1)


def test_the_handshake_ack_is_named_once_and_its_window_is_remembered() -> None:
    w = Wire()
    assert w.handshake()["rule"] == "handshake-ack"
    again = w.send(C, ACK, ISN_C + 1, ISN_S + 1, win=900)
    assert again["rule"] == "window-update" and "receive window now 900" in again["text"]


def test_an_ack_without_the_peers_isn_names_no_byte_even_when_tshark_flags_it() -> None:
    w = Wire()
    ack = w.send(C, ACK, ISN_C + 1, ISN_S + 1, analysis=["duplicate_ack"])
    assert ack["rule"] == "ack" and "stream start not captured" in ack["text"]


def test_the_first_ack_of_a_fin_answers_it_and_a_repeat_does_not() -> None:
    w = Wire()
    w.handshake()
    w.send(S, FIN | ACK, ISN_S + 1, ISN_C + 1)  # frame 4
    first = w.send(C, ACK, ISN_C + 1, ISN_S + 2, analysis=["duplicate_ack"])
    assert first["rule"] == "ack-fin" and first["answers"] == 4
    repeat = w.send(C, ACK, ISN_C + 1, ISN_S + 2, analysis=["duplicate_ack"])
    assert repeat["rule"] == "dup-ack"


def test_only_acks_that_acknowledge_data_move_the_mark() -> None:
    w = Wire()
    w.handshake()
    w.send(S, PSH | ACK, ISN_S + 1, ISN_C + 1, 10)  # frame 4: bytes 0-9
    probe = w.send(C, ACK, ISN_C + 1, ISN_S + 11, analysis=["keep_alive"])
    assert probe["rule"] == "keepalive"
    ack = w.send(C, ACK, ISN_C + 1, ISN_S + 11, win=400)
    assert ack["rule"] == "window-update"  # same number as the probe: only the window is news
    w.send(S, PSH | ACK, ISN_S + 11, ISN_C + 1, 10)  # frame 7: bytes 10-19
    both = w.send(C, ACK, ISN_C + 1, ISN_S + 21, win=400)
    assert both["rule"] == "ack" and "(frames 4, 7)" in both["text"] and both["answers"] == 7
    w.send(S, PSH | ACK, ISN_S + 21, ISN_C + 1, 10)  # frame 9: bytes 20-29
    last = w.send(C, ACK, ISN_C + 1, ISN_S + 31, win=400)
    assert "(frame 9)" in last["text"]


def test_an_ack_long_after_the_data_is_delayed() -> None:
    w = Wire()
    w.handshake()
    w.send(S, PSH | ACK, ISN_S + 1, ISN_C + 1, 10, t=10_000)
    ack = w.send(C, ACK, ISN_C + 1, ISN_S + 11, t=10_000 + 40_000_000)
    assert ack["rule"] == "delayed-ack" and ack["answers"] == 4 and "40 ms" in ack["text"]


def test_the_ack_of_a_retransmission_answers_it_and_is_timed_from_it() -> None:
    """Data lost and resent 200 ms later: the ACK right after the resend answers the resend, and is not
    "delayed" (it came 0.1 ms after the data that arrived)."""
    w = Wire()
    w.handshake()  # frames 1-3
    w.send(C, ACK | PSH, ISN_C + 1, ISN_S + 1, 100, t=10_000_000)  # frame 4, lost
    w.send(C, ACK | PSH, ISN_C + 1, ISN_S + 1, 100, t=210_000_000)  # frame 5, the retransmission
    ack = w.send(S, ACK, ISN_S + 1, ISN_C + 101, t=210_100_000)
    assert ack["rule"] == "ack" and ack["answers"] == 5, ack
    assert "frame 5" in ack["text"] and "delayed" not in ack["text"]


def test_one_ack_for_the_last_data_and_the_fin_names_both() -> None:
    w = Wire()
    w.handshake()  # frames 1-3
    w.send(S, ACK | PSH, ISN_S + 1, ISN_C + 1, 10)  # frame 4: bytes 0-9
    w.send(S, FIN | ACK, ISN_S + 11, ISN_C + 1)  # frame 5
    both = w.send(C, ACK, ISN_C + 1, ISN_S + 12)
    assert both["rule"] == "ack-fin" and both["answers"] == 5
    assert "acknowledges bytes 0-9 (frame 4) and FIN frame 5" in both["text"], both["text"]


def test_acks_name_the_bytes_they_acknowledge_inclusive() -> None:
    w = Wire()
    w.handshake()
    w.send(S, ACK | PSH, ISN_S + 1, ISN_C + 1, 20)  # frame 4: bytes 0-19
    ack = w.send(C, ACK, ISN_C + 1, ISN_S + 21)
    assert "acknowledges bytes 0-19 (frame 4)" in ack["text"], ack["text"]
