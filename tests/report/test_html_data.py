"""The page's data from hand-made run records: what is drawn, what is never shown, and safe embedding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab.errors import UsageError
from lab.records import PacketRecord
from lab.report.html.data import build_page_data, frame_refs
from lab.report.html.markdown import to_html
from lab.report.html.page import _script_json, render_page, write_report
from lab.report.records import load_run
from tests.helpers.builders import T0, call, cause, eth, icmp, ip, layers, packet, tcp
from tests.helpers.renderrecords import ROUTED_NODES, SEGMENT, report

LAYERS = layers("Ethernet", "IPv4", "TCP", "Data")


def seg(number: int, iface: str, src: str, dst: str, ttl: int, **extra: Any) -> PacketRecord:
    return packet(number, interface=iface, node=iface.split("-")[0], len=59, caplen=59, layers=LAYERS,
                  eth=eth(src, dst), ip=ip("198.18.0.1", "198.18.1.1", ttl=ttl),
                  tcp=tcp(40000, 5000, "PSH,ACK", seq_raw=1001, ack_raw=1, seq=1, ack=1, length=5, **SEGMENT),
                  role={"code": "data", "text": "data: 5 bytes"},
                  cause=cause("call", "tcp-data-offset", "h1 send() #3 bytes 0-4", calls=[3]), **extra)


def write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    first = seg(1, "h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00", 64,
                lost={"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": "loss 30% on link r1-h2 (nftables)",
                      "carried_by": 2})
    again = seg(2, "h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00", 64, analysis=["retransmission"])
    copy = seg(3, "r1-eth1", "02:00:00:00:02:01", "02:00:00:00:03:00", 63)
    copy["cause"] = cause("call", "tcp-data-offset", copy["cause"]["text"], calls=[3], copy_of=2)
    mld = packet(4, T0 + 9000, interface="h1-eth0", len=90, caplen=90, layers=layers("Ethernet", "IPv6"),
                 eth=eth("02:00:00:00:01:00", "33:33:00:00:00:16"),
                 ip=ip("fe80::1", "ff02::16", ttl=1, proto=58),
                 icmp=icmp(6, 143, "multicast listener report v2"), role={"code": "other", "text": "MLD"},
                 cause=cause("kernel", "mld", "kernel MLD"))
    write_jsonl(tmp_path / "packets.jsonl", [first, again, copy, mld])
    send = call("send", id=3, t_start_ns=T0 + 500, t_end_ns=T0 + 2500, args={"nbytes": 5}, ret=5)
    write_jsonl(tmp_path / "calls.jsonl", [send])
    observation = {"check": "payload", "params": {}, "label": "payload", "ok": True,
                   "detail": "bytes match; frames 1, 2 and 3"}
    rec = report(ROUTED_NODES, title="a </script><script>alert(1)</script> title", observations=[observation],
                 questions=[{"id": "q", "text": "Which TTL does frame 3 carry?"}])
    rec["answers"] = {"q": "SECRET-ANSWER-63"}  # a lab run's report may carry them: never shown
    (tmp_path / "report.json").write_text(json.dumps(rec))
    (tmp_path / "lab.yaml").write_text("concept: |\n  # Title\n  Some `code` and <b>markup</b>\n")
    return tmp_path


def test_hops_lost_mark_and_what_my_program_caused(run_dir: Path) -> None:
    data = build_page_data(load_run(run_dir))
    lanes = [lane["name"] for lane in data["lanes"]]
    assert lanes == ["h1", "r1", "h2"]
    p = {name: list(column) for name, column in data["P"].items()}  # arrays (data.Columns)
    assert p["n"] == [1, 2, 3, 4]
    hops = [(lanes[s], lanes[d]) for s, d in zip(p["s"], p["d"], strict=True)]
    assert hops[:3] == [("h1", "r1"), ("h1", "r1"), ("r1", "h2")]
    assert p["bg"] == [0, 0, 0, 1] and p["mine"] == [1, 1, 1, 0]
    assert p["copy"] == [0, 0, 2, 0]
    lost = data["lost"]["1"]
    assert lost["carried_by"] == 2 and (lanes[lost["from"]], lanes[lost["to"]]) == ("r1", "h2")
    assert data["meta"]["background"] == {"MLD": 1}
    # events: the call starts before its packets and returns after them
    kinds = list(data["events"]["k"])
    assert kinds[0] == 0 and 2 in kinds and kinds.index(2) > kinds.index(1)


def test_the_answers_never_reach_the_page(run_dir: Path) -> None:
    page = render_page(load_run(run_dir))
    assert "SECRET-ANSWER-63" not in page
    assert "Which TTL does frame 3 carry?" in page
    data = build_page_data(load_run(run_dir))
    assert data["text"]["observations"][0]["frames"] == [1, 2, 3]


def test_texts_cannot_break_out_of_the_page(run_dir: Path) -> None:
    page = render_page(load_run(run_dir))
    assert page.count("</script>") == 2  # the data block's and the code's, nothing from the records
    assert "<script>alert(1)" not in page
    assert "&lt;b&gt;markup&lt;/b&gt;" in page  # the concept's markup is shown as text, escaped
    assert "<b>markup" not in page and "\\u003cb>markup" not in page
    assert "<" not in _script_json({"x": "</script><!--"})
    assert json.loads(_script_json({"x": "</script><!--"})) == {"x": "</script><!--"}
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    no_namespace = page.replace("http://www.w3.org/2000/svg", "")  # a name, never fetched
    assert "http://" not in no_namespace and "https://" not in no_namespace


def test_write_report_is_one_file_and_bad_dirs_are_one_line(run_dir: Path, tmp_path: Path) -> None:
    path = write_report(run_dir)
    assert path == run_dir / "report.html" and path.stat().st_size > 10_000
    assert not list(run_dir.glob(".report-*"))
    with pytest.raises(UsageError, match="no run directory at"):
        write_report(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="has no packets.jsonl"):
        write_report(tmp_path / "empty")


def test_frame_refs_and_markdown() -> None:
    assert frame_refs("1 syn at h1-eth0; frames 7, 8 and 9") == [7, 8, 9]
    assert frame_refs("handshake ACK frame 9 (t=0.64 s)") == [9]
    html = to_html("# T\n\n| a | b |\n|---|---|\n| `x` | <i> |\n\n- one\n- two\n\n    code <here>\n")
    assert "<table>" in html and "<code>x</code>" in html and "&lt;i&gt;" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "code &lt;here&gt;" in html
    timeline = to_html("## t\nt=  0.1  wire frame 3\nt=  0.2  h1   call #1 socket()\n")
    assert "<pre>t=  0.1  wire frame 3\nt=  0.2  h1   call #1 socket()</pre>" in timeline
    assert to_html("a soft\nbreak") == "<p>a soft break</p>"


def test_lab_show_html_and_ladder_options(run_dir: Path) -> None:
    import subprocess
    import sys

    lab = [sys.executable, "-m", "lab", "show", str(run_dir)]
    done = subprocess.run([*lab, "--html"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(run_dir / "report.html")
    done = subprocess.run([*lab, "--width", "60", "--filter", "node=r1"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert max(len(ln) for ln in done.stdout.splitlines()) <= 60 and "[3]" in done.stdout
    bad = subprocess.run([*lab, "--filter", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "nope" in bad.stderr


def test_lab_analyze_writes_the_page_and_says_where(corpus_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "a"
    pcap = corpus_dir / "pcaps" / "zeek__smtp.pcap"
    done = subprocess.run([sys.executable, "-m", "lab", "analyze", str(pcap), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"open in a browser: {out / 'report.html'}"
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "lab analyze" in page


def test_a_partial_run_gets_a_page_that_says_so(run_dir: Path) -> None:
    (run_dir / "PARTIAL").write_text("interrupted by SIGINT at 2026-12-04T21:00:00Z\n")
    page = render_page(load_run(run_dir))
    assert "PARTIAL RUN: " in page and "SIGINT" in page


BROKEN = [  # (what is done to the run directory, the file and line named, what the line says)
    ("packets.jsonl", 2, lambda recs: recs[1].pop("cause"), "no cause (PacketRecord requires it)"),
    ("packets.jsonl", 3, lambda recs: recs[2]["tcp"].update(seq="1"), "tcp.seq: a string, not an integer"),
    ("packets.jsonl", 1, lambda recs: recs[0]["layers"].append(7), "layers.5: an integer, not an object"),
    ("packets.jsonl", 4, lambda recs: recs[3].update(role=None), "role: null, not an object (Role)"),
    ("packets.jsonl", 2, lambda recs: recs[1].pop("schema_version"), "no schema_version: written before"),
    ("packets.jsonl", 1, lambda recs: recs[0].update(schema_version=99), "schema_version: 99 is not one"),
    ("calls.jsonl", 1, lambda recs: recs[0].pop("t_start_ns"), "no t_start_ns (CallRecord requires it)"),
]


@pytest.mark.parametrize(("name", "line", "damage", "message"), BROKEN)
def test_a_broken_record_is_one_line_naming_file_and_line(run_dir: Path, name: str, line: int, damage: Any,
                                                          message: str) -> None:
    """The loader checks every record once; the renderers behind it read by subscript and never see a
    broken one. ``lab show --html`` and the ladder say where in one line and exit 2, writing nothing."""
    import subprocess
    import sys

    path = run_dir / name
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    damage(recs)
    write_jsonl(path, recs)
    with pytest.raises(UsageError) as err:
        build_page_data(load_run(run_dir))
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)
    for args in (["--html"], ["--width", "80"]):
        done = subprocess.run([sys.executable, "-m", "lab", "show", str(run_dir), *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip() == f"lab: {err.value}"  # one line, no traceback
    with pytest.raises(UsageError):
        write_report(run_dir)
    assert not (run_dir / "report.html").exists() and not list(run_dir.glob(".report-*"))


def test_a_line_that_is_not_json_and_a_broken_report_are_one_line(run_dir: Path) -> None:
    with (run_dir / "packets.jsonl").open("a") as fh:
        fh.write("not json\n")
    with pytest.raises(UsageError, match=r"packets\.jsonl:5: not JSON \("):
        build_page_data(load_run(run_dir))
    packets = run_dir / "packets.jsonl"
    packets.write_text(packets.read_text().replace("not json\n", "\n"))
    build_page_data(load_run(run_dir))  # a blank line is no record, and no error
    rec = json.loads((run_dir / "report.json").read_text())
    del rec["nodes"]["r1"]["interfaces"][1]["mac"]
    (run_dir / "report.json").write_text(json.dumps(rec))
    with pytest.raises(UsageError, match=r"report\.json: nodes\.r1\.interfaces\.2: no mac \(NodeInterface"):
        load_run(run_dir)
    del rec["nodes"]
    (run_dir / "report.json").write_text(json.dumps(rec))
    with pytest.raises(UsageError, match=r"report\.json: no nodes \(ReportRecord requires it\)"):
        load_run(run_dir)


def test_columns_and_json_in_parts_are_what_one_dump_would_write(run_dir: Path) -> None:
    """The page's data is written in parts from array columns: byte for byte the JSON of the same data as
    lists. A value beyond 64 bits (a hand-made record; orjson reads it as a float) turns its column into
    a list, and the page still holds it as it was."""
    import orjson

    from lab.report.html.page import _json_parts

    path = run_dir / "packets.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs[1]["tcp"]["seq"] = 2**70
    write_jsonl(path, recs)
    data = build_page_data(load_run(run_dir))
    assert isinstance(data["P"]["seq"], list) and data["P"]["seq"][1] == float(2**70)
    assert not isinstance(data["P"]["ack"], list)  # the other columns stay arrays
    as_lists = json.loads(json.dumps({k: (v if k not in ("P", "events") else
                                          {c: list(col) for c, col in v.items()}) for k, v in data.items()}))
    assert b"".join(_json_parts(data)) == orjson.dumps(as_lists)
    assert json.loads(b"".join(_json_parts(data)))["P"]["n"] == [1, 2, 3, 4]
