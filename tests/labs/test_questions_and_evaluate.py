"""Questions on synthetic records; evaluate() on recorded real runs (tests/labs/data/<lab>/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.labs import questions as q
from lab.labs.evaluate import answers, evaluate
from lab.labs.questions import QUESTIONS
from lab.labs.spec import load_lab
from tests.helpers.builders import datagram
from tests.helpers.labrecords import (
    H1,
    H2,
    C,
    Capture,
    S,
    call,
    echo_session,
    load_run,
    routed_syn,
)
from tests.helpers.records import assert_valid

DATA = Path(__file__).parent / "data"


def test_every_question_is_registered_under_its_name() -> None:
    assert all(fn.__name__ == name for name, fn in QUESTIONS.items())


def test_tcp_questions() -> None:
    packets, calls = echo_session()
    assert q.syn_seq_raw(packets, calls) == 1000
    assert q.synack_ack_raw(packets, calls) == 1001
    assert q.client_port(packets, calls) == 40000
    assert q.client_port(packets, calls, index=2) is None
    assert q.server_port(packets, calls) == 5000
    assert q.mss(packets, calls, role="syn") == 1460
    assert q.connections(packets, calls) == 1
    assert q.count(packets, calls, role="fin") == 2
    assert q.first_fin_port(packets, calls) == 40000
    assert q.rst_port(packets, calls) is None
    assert q.data_segments(packets, calls) == 1
    assert q.syn_seq_raw([], []) is None


def test_call_questions() -> None:
    calls = [
        call(1, "connect_ex", ret=111, error="ECONNREFUSED"),
        call(2, "send", ret=32768),
        call(3, "recv", exception="BlockingIOError"),
        call(4, "accept", exception="BlockingIOError"),
    ]
    assert q.call_errno([], calls, call="connect_ex") == 111
    assert q.call_return([], calls, call="send") == 32768
    assert q.calls_raising([], calls, exception="BlockingIOError") == 2


def test_network_questions() -> None:
    assert q.syn_ttls(routed_syn().packets, []) == [64, 63, 62]
    assert q.ttl(routed_syn().packets, [], role="syn") == 64
    assert q.ttl([], [], role="syn") is None
    cap = Capture()
    cap.fragment(H1, H2, offset=0, mf=True, size=1500, ip_id=5)
    cap.fragment(H1, H2, offset=1480, mf=False, size=948, ip_id=5)
    cap.fragment(H2, H1, offset=0, mf=True, size=1500, ip_id=6)  # the reply: another datagram
    assert q.fragment_offsets(cap.packets, [], node="h1") == [0, 1480]
    assert q.fragment_offsets(cap.packets, [], node="r1") is None


def test_udp_questions() -> None:
    cap = Capture()
    cap.udp((H1, 50000), (H2, 69), 16)
    for _ in range(3):
        cap.udp((H2, 41000), (H1, 50000), 516)
    assert q.udp_length(cap.packets, [], index=1) == 24
    assert q.udp_port(cap.packets, [], index=1, port=69) == 50000
    assert q.reply_port(cap.packets, [], port=69) == 41000
    assert q.reply_datagrams(cap.packets, [], port=69) == 3


def test_syn_intervals() -> None:
    cap = Capture()
    for t in (0.0, 1.02, 3.05):
        cap.tcp((H1, 1), (H2, 5005), "SYN", role="syn", at=t)
    assert q.syn_intervals(cap.packets, [], port=5005) == [1, 2]


@pytest.mark.parametrize("lab", sorted(p.name for p in DATA.iterdir()))
def test_recorded_runs_pass_their_observations(lab: str) -> None:
    spec, packets, calls = load_run(DATA / lab)
    result = evaluate(load_lab(lab), packets, calls)
    failed = [o for o in result["observations"] if not o["ok"]]
    assert not failed, failed
    assert result["unanswered"] == [] and "answers" not in result
    key = answers(spec, packets, calls)
    assert key and all(v is not None for v in key.values()), key
    assert "## Where reality differs from the simple story" in result["story"]


def test_recorded_tcp_echo_answers_and_story() -> None:
    spec, packets, calls = load_run(DATA / "tcp-echo")
    result = evaluate(spec, packets, calls)
    syn = next(p for p in packets if p["role"]["code"] == "syn")
    key = answers(spec, packets, calls)
    assert key["syn-seq"] == syn["tcp"]["seq_raw"]
    assert key["synack-ack"] == (syn["tcp"]["seq_raw"] + 1) % 2**32
    assert "took no part in the handshake" in result["story"]
    assert "bind() and listen() put nothing on the wire" in result["story"]


def test_recorded_run_with_broken_evidence_fails_observations() -> None:
    """The same real run with the handshake ACK removed: checks must notice."""
    spec, packets, calls = load_run(DATA / "tcp-echo")
    packets = [p for p in packets if p["role"]["code"] != "handshake-ack"]
    result = evaluate(spec, packets, calls)
    by_label = {o["label"]: o["ok"] for o in result["observations"]}
    assert not by_label["handshake_before_accept"]
    assert not by_label["role_count(role=handshake-ack, count=1)"]


def test_evaluate_reports_a_check_that_cannot_cope_instead_of_raising() -> None:
    spec = load_lab("tcp-echo")
    # a record complete but for its headers: no Ethernet or IP, and a TCP header with none of its fields
    # (deliberately invalid, as a record of an older or broken run): the checks and questions that read
    # them must each fail alone
    syn = Capture().tcp(C, S, "SYN", role="syn")
    broken = {**syn, "eth": None, "ip": None, "tcp": {}}
    with pytest.raises(AssertionError, match="tcp"):
        assert_valid("packet", broken)
    result = evaluate(spec, [broken], [])
    ok = {o["label"]: o["ok"] for o in result["observations"]}
    assert ok["role_count(role=syn, count=1)"]  # true of this one packet
    assert [label for label, good in ok.items() if good] == ["role_count(role=syn, count=1)"]
    # "tcp": {} has no seq_raw: every question unanswerable, each named with its function and why
    assert [u["id"] for u in result["unanswered"]] == [q.id for q in spec.questions if not q.manual]
    assert result["unanswered"][0]["reason"].startswith("syn_seq_raw")
    assert "the story could not be told from these records: KeyError" in result["story"]
    json.dumps(result)  # JSON-able for report.json


def test_traffic_outside_the_capture_fails_the_lab() -> None:
    """A wildcard-bound UDP server on a loopback run answers from 127.0.0.1, outside the run's capture."""
    from lab.labs.evaluate import uncaptured_calls

    spec = load_lab("udp-echo")
    packets, calls = echo_session()
    assert uncaptured_calls(packets, calls) == []
    assert all(o["check"] != "capture_complete" for o in evaluate(spec, packets, calls)["observations"])
    reply = call(9, "sendto", node="h2", type="SOCK_DGRAM", nbytes=3, local=["0.0.0.0", 5001],
                 dgram=datagram(["127.0.0.1", 50992], 3, "fe05bcdcdc492801"))
    local_connect = call(10, "connect", peer=["127.0.0.1", 8000], ret=0)
    refused = call(11, "connect_ex", peer=["127.0.0.1", 8001], ret=111, error="ECONNREFUSED")
    missing = uncaptured_calls(packets, [*calls, reply, local_connect, refused])
    assert missing == ["h2 sendto() #9 to 127.0.0.1:50992", "h1 connect() #10 to 127.0.0.1:8000"]
    (auto,) = [o for o in evaluate(spec, packets, [*calls, reply])["observations"]
               if o["check"] == "capture_complete"]
    assert not auto["ok"] and "sendto() #9" in auto["detail"] and "{ip[NODE]}" in auto["detail"]
