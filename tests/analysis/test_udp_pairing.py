"""UDP request/response pairing: only the first receiver answers, and only a request it has not answered.

The udp-echo lab showed the client's second request labelled "response to frame N" (the echo of its first
request): a datagram answering frame N must go the opposite way, come after N, and answer it.
"""

from __future__ import annotations

from pathlib import Path

from lab.analysis.flows import FlowTable
from lab.analysis.pipeline import analyze_capture
from tests.helpers.frames import pcap, udp_frame
from tests.helpers.records import load_jsonl

C, S = ("198.18.0.1", 40000), ("198.18.0.2", 5000)


def _answers(directions: str) -> list[int | None]:
    """Feed datagrams ``c`` (client -> server) and ``s`` (server -> client); the frame each answers."""
    flows = FlowTable()
    out = []
    for n, who in enumerate(directions, start=1):
        src, dst = (C, S) if who == "c" else (S, C)
        out.append(flows.udp(src[0], src[1], dst[0], dst[1], n, n * 1000)[2])
    return out


def test_echo_exchange_pairs_each_reply_with_its_request() -> None:
    # request, echo, next request (sent after the echo arrived: not a response), its echo
    assert _answers("cscs") == [None, 1, None, 3]


def test_two_requests_then_one_reply_answers_the_latest() -> None:
    assert _answers("ccsc") == [None, None, 2, None]


def test_an_unsolicited_server_datagram_answers_nothing() -> None:
    assert _answers("cssc") == [None, 1, None, None]


def test_response_text_only_on_replies(tmp_path: Path) -> None:
    frames = [udp_frame(), udp_frame(5000, 40000, b"echo1"), udp_frame(payload=b"again"),
              udp_frame(5000, 40000, b"echo2")]
    cap = tmp_path / "udp.pcap"
    cap.write_bytes(pcap(1, frames))
    recs = load_jsonl(analyze_capture(cap, tmp_path / "out").packets_path)
    assert len(recs) == 4
    assert [r["cause"]["answers"] for r in recs] == [None, 1, None, 3]
    assert "response to" not in recs[2]["role"]["text"]
    assert "response to frame 3" in recs[3]["role"]["text"]
