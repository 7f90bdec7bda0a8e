"""`lab analyze` without a call log: the ACK of a FIN acknowledges the FIN, not "received data"."""

from __future__ import annotations

from lab.analysis.flows import ACK, FIN, PSH, SYN, FlowTable
from lab.analysis.roles import cause_tcp

C, S = ("198.18.0.1", 40000), ("198.18.0.2", 5000)


def test_the_ack_of_a_fin_names_the_fin() -> None:
    flows = FlowTable()
    seq = {C: 100, S: 900}
    out = []

    def seg(src: tuple, fl: int, length: int = 0) -> None:
        dst = S if src == C else C
        n = len(out) + 1
        info = flows.tcp(src[0], src[1], dst[0], dst[1], fl, seq[src], seq[dst], 500, length, n, n * 1000)
        seq[src] += length + bool(fl & (SYN | FIN))
        out.append((info, cause_tcp(src[0], src[1], info)))

    seg(C, SYN)
    seq[S] = 900  # the SYN-ACK acknowledges 101
    seg(S, SYN | ACK)
    seg(C, ACK)
    seg(C, PSH | ACK, 10)
    seg(S, ACK)  # 5: acknowledges the data
    seg(C, FIN | ACK)  # 6
    seg(S, ACK)  # 7: acknowledges the FIN
    seg(S, FIN | ACK)  # 8
    seg(C, ACK)  # 9: acknowledges the server's FIN
    assert len(out) == 9
    assert out[4][1]["text"].endswith("acknowledges received data")
    assert out[6][1]["text"].endswith("acknowledges the peer's FIN (frame 6)") and out[6][1]["answers"] == 6
    assert out[8][1]["text"].endswith("acknowledges the peer's FIN (frame 8)") and out[8][1]["answers"] == 8
    assert all("received data" not in c["text"] for _i, c in out[6:])
