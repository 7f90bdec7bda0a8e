"""TCP role texts: the flow table states the facts of a segment, ``roles.tcp_text`` says them in words.

One conversation walks through every role and every fact a text reads (a SYN seen again, the FIN that
closes first and the one that answers, a FIN again, a duplicate ACK's count, a window update's window,
a retransmission, data, a refused and an aborted RST with data), each text checked whole.
"""

from __future__ import annotations

from lab.analysis.flows import ACK, FIN, PSH, RST, SYN, FlowTable, TcpInfo
from lab.analysis.roles import TCP_TEXTS, tcp_text

C, S = ("198.18.0.1", 40000), ("198.18.0.2", 5000)
MS = 1_000_000


class Conversation:
    """Segments of one client/server pair through one ``FlowTable``, numbered from 1."""

    def __init__(self) -> None:
        self.flows = FlowTable()
        self.n = 0

    def seg(self, frm: tuple, fl: int, seq: int, ack: int, tlen: int = 0, win: int = 1000) -> TcpInfo:
        to = S if frm == C else C
        self.n += 1
        return self.flows.tcp(frm[0], frm[1], to[0], to[1], fl, seq, ack, win, tlen, self.n, self.n * MS)


def test_every_role_text_from_the_flow_facts() -> None:
    c = Conversation()
    seen: list[tuple[str, str]] = []

    def text(info: TcpInfo) -> str:
        seen.append((info.role, tcp_text(info)))
        return seen[-1][1]

    assert text(c.seg(C, SYN, 100, 0)) == "handshake 1/3: SYN"
    assert text(c.seg(C, SYN, 100, 0)) == "handshake 1/3: SYN (again) (retransmission)"
    assert text(c.seg(S, SYN | ACK, 500, 101)) == "handshake 2/3: SYN-ACK"
    assert text(c.seg(C, ACK, 101, 501)) == "handshake 3/3: ACK"
    assert text(c.seg(C, PSH | ACK, 101, 501, 10)) == "data: 10 bytes client -> server"
    assert text(c.seg(S, ACK, 501, 111)) == "pure ACK server -> client"
    assert text(c.seg(S, ACK, 501, 111, win=2000)) == "window update server -> client (win=2000)"
    assert text(c.seg(S, PSH | ACK, 501, 111, 20, win=2000)) == "data: 20 bytes server -> client"
    assert text(c.seg(C, ACK, 111, 521)) == "pure ACK client -> server"
    assert text(c.seg(C, ACK, 111, 521)) == "duplicate ACK client -> server (#1)"
    assert text(c.seg(C, ACK, 111, 521)) == "duplicate ACK client -> server (#2)"
    resent = c.seg(S, PSH | ACK, 501, 111, 20, win=2000)
    assert text(resent) == "data: 20 bytes server -> client (retransmission)"
    assert text(c.seg(C, FIN | ACK, 111, 521, 5)) == "FIN with data from client: 5 bytes (closes first)"
    assert text(c.seg(S, FIN | ACK, 521, 117, win=2000)) == "FIN from server (answers the other side's FIN)"
    assert text(c.seg(S, FIN | ACK, 521, 117, win=2000)) == "FIN from server (again) (retransmission)"
    rst = c.seg(C, RST | ACK, 117, 522, 3)
    assert text(rst) == "RST from client: connection aborted (RST with data, 3 bytes)"
    assert {role for role, _t in seen} == set(TCP_TEXTS)  # every row of the table was read


def test_a_refused_connection_is_the_rst_that_answers_the_syn() -> None:
    c = Conversation()
    c.seg(C, SYN, 100, 0)
    rst = c.seg(S, RST | ACK, 0, 101)
    assert rst.answers == 1
    assert tcp_text(rst) == "RST from server: connection refused (SYN answered by RST)"
