"""The library on real runs: lab.run / lab.open / lab.analyze, Packet, Call, Conversation, scapy, pyshark."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import lab
from lab.errors import LabError, UsageError
from tests.helpers.records import validate_dir


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]) -> lab.Run:
    if __import__("os").geteuid() != 0:
        pytest.skip("needs root: network namespaces")
    require_tool("dumpcap")
    return lab.run("tcp-echo", tmp_path_factory.mktemp("echo") / "run")


def _syn(run: lab.Run) -> lab.Packet:
    syns = list(run.filter(role="syn"))
    assert len(syns) == 1
    return syns[0]


@pytest.mark.root
def test_run_returns_a_run_whose_records_validate(echo: lab.Run) -> None:
    assert echo.ok, echo.failures
    counts = validate_dir(echo.dir)
    assert counts["packet"] == len(echo) > 10 and counts["call"] == len(echo.calls) > 5
    assert counts["report"] == counts["summary"] == 1
    assert echo.topology is not None and set(echo.topology.nodes) == {"h1", "h2"}


@pytest.mark.root
def test_packet_cause_names_its_call_objects(echo: lab.Run) -> None:
    syn = _syn(echo)
    assert echo.packet(syn.number).record == syn.record
    (connect,) = syn.cause.calls
    assert connect.name == "connect" and connect.node == "h1" == syn.node
    assert [p.number for p in connect.packets] == [syn.number]
    assert syn.cause.source == "call" and f"#{connect.id}" in syn.cause.text
    assert [layer.name for layer in syn.layers] == ["Ethernet", "IPv4", "TCP"]
    assert [layer.osi for layer in syn.layers] == [2, 3, 4]
    synack = syn.cause.calls[0].run.packet(syn.number + 1)
    assert synack.role.code == "syn-ack" and synack.cause.answers.number == syn.number


@pytest.mark.root
def test_data_segments_are_read_by_the_recv_that_consumed_them(echo: lab.Run) -> None:
    data = list(echo.filter(role="data"))
    assert len(data) == 2
    for p in data:
        (sender,) = p.cause.calls
        assert sender.name in ("send", "sendall")
        readers = p.cause.consumed_by
        assert readers and all(r.name.startswith("recv") and r.node != sender.node for r in readers)
        assert p.number in {q.number for r in readers for q in r.consumed}


@pytest.mark.root
def test_scapy_and_pyshark_decode_the_same_frame(echo: lab.Run, require_tool: Callable[[str], str]) -> None:
    syn = _syn(echo)
    sp = syn.scapy()
    assert sp.summary().startswith("Ether / IP / TCP") and sp["TCP"].flags == "S"
    assert bytes(sp) == syn.raw and len(syn.raw) == syn.length
    require_tool("tshark")
    ts = syn.pyshark()
    assert [layer.layer_name for layer in ts.layers][:3] == ["eth", "ip", "tcp"]
    assert int(ts.tcp.srcport) == syn.tcp["sport"]


@pytest.mark.root
def test_filters(echo: lab.Run) -> None:
    conv = echo.conversations
    assert len(conv) == 1 and conv[0].key == "tcp:0"
    in_conn = conv[0].packets
    assert in_conn and all(p.tcp is not None for p in in_conn)
    assert {p.role.code for p in echo.filter(protocol="ARP")} == {"arp-request", "arp-reply"}
    assert all(p.cause.source == "call" for p in echo.filter(source="call"))
    mine = list(echo.filter(source="call"))
    assert mine and all(p.cause.calls for p in mine)
    on_h1 = list(echo.filter(node="h1"))
    assert on_h1 and all(p.node == "h1" for p in on_h1)
    assert [p.number for p in echo.filter(node="h1", role="syn")] == [_syn(echo).number]


@pytest.mark.root
def test_reopened_run_is_the_same(echo: lab.Run) -> None:
    again = lab.open(echo.dir)
    assert [p.record for p in again.packets] == [p.record for p in echo.packets]
    assert "<iframe" in again._repr_html_() and "sequence" in again._repr_html_()  # the report page
    assert "<table>" in again._table_html() and "<table>" in again.packet(1)._repr_html_()
    with pytest.raises(KeyError, match="no frame 0"):
        again.packet(0)
    with pytest.raises(KeyError, match="no call #99999"):
        again.call(99999)


def test_open_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a run directory"):
        lab.open(tmp_path)


def test_run_refuses_an_unknown_lab(tmp_path: Path) -> None:
    with pytest.raises(LabError):
        lab.run("no-such-lab", tmp_path / "x")


def test_analyze_any_capture_with_and_without_calls(corpus_dir: Path, tmp_path: Path) -> None:
    run = lab.analyze(corpus_dir / "pcaps" / "zeek__smtp.pcap", out=tmp_path / "a")
    assert len(run) > 100 and run.calls == [] and run.topology is None
    assert {p.cause.source for p in run.filter(role="syn")} == {"inferred"}
    assert run.report["packets"] == len(run)
    first = run.packet(1)
    assert first.scapy().summary().startswith("Ether")


@pytest.mark.parametrize(("imports", "not_loaded"), [
    ("lab", {"scapy", "pyshark", "networkx", "lab.analysis.pipeline"}),
    # what `lab analyze` imports: networkx (15 MiB, 70 ms) only when a run has lost copies to place
    ("lab.cli.main, lab.cli.analyze, lab.analysis.pipeline", {"scapy", "pyshark", "networkx"}),
])
def test_imports_stay_cheap(imports: str, not_loaded: set[str]) -> None:
    import subprocess
    import sys

    program = f"import json, sys, {imports}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    assert not set(json.loads(out)) & not_loaded
