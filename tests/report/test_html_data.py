"""The page's data from hand-made run records: what is drawn, what is never shown, and safe embedding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab.errors import UsageError
from lab.report.html.data import build_page_data, frame_refs
from lab.report.html.markdown import to_html
from lab.report.html.page import _script_json, render_page, write_report
from lab.report.records import load_run

T0 = 1_764_103_195_000_000_000
NODES = {
    "h1": {"kind": "host", "interfaces": [{"name": "h1-eth0", "mac": "02:00:00:00:01:00", "peer": "r1",
                                            "ipv4": "198.18.0.1/24"}]},
    "r1": {"kind": "router", "interfaces": [
        {"name": "r1-eth0", "mac": "02:00:00:00:02:00", "peer": "h1", "ipv4": "198.18.0.254/24"},
        {"name": "r1-eth1", "mac": "02:00:00:00:02:01", "peer": "h2", "ipv4": "198.18.1.254/24"}]},
    "h2": {"kind": "host", "interfaces": [{"name": "h2-eth0", "mac": "02:00:00:00:03:00", "peer": "r1",
                                            "ipv4": "198.18.1.1/24"}]},
}
LAYERS = [{"name": "Ethernet", "tcpip": "link", "osi": 2, "offset": 0, "length": 14},
          {"name": "IPv4", "tcpip": "internet", "osi": 3, "offset": 14, "length": 20},
          {"name": "TCP", "tcpip": "transport", "osi": 4, "offset": 34, "length": 20},
          {"name": "Data", "tcpip": "application", "osi": 7, "offset": 54, "length": 5}]


def seg(number: int, iface: str, src: str, dst: str, ttl: int, **extra: Any) -> dict[str, Any]:
    rec = {"number": number, "ts_ns": T0 + number * 1000, "interface": iface, "node": iface.split("-")[0],
           "len": 59, "layers": LAYERS, "eth": {"src": src, "dst": dst},
           "ip": {"version": 4, "src": "198.18.0.1", "dst": "198.18.1.1", "ttl": ttl},
           "tcp": {"sport": 40000, "dport": 5000, "flags": "PSH,ACK", "seq": 1, "ack": 1, "len": 5,
                   "win": 502, "from_client": True},
           "role": {"code": "data", "text": "data: 5 bytes"},
           "cause": {"source": "call", "rule": "send", "text": "h1 send() #3 bytes 0-4", "calls": [3]}}
    rec.update(extra)
    return rec


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    first = seg(1, "h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00", 64,
                lost={"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": "loss 30% on link r1-h2 (nftables)",
                      "carried_by": 2})
    again = seg(2, "h1-eth0", "02:00:00:00:01:00", "02:00:00:00:02:00", 64, analysis=["retransmission"])
    copy = seg(3, "r1-eth1", "02:00:00:00:02:01", "02:00:00:00:03:00", 63)
    copy["cause"] = dict(copy["cause"], copy_of=2)
    mld = {"number": 4, "ts_ns": T0 + 9000, "interface": "h1-eth0", "len": 90, "layers": LAYERS[:2],
           "eth": {"src": "02:00:00:00:01:00", "dst": "33:33:00:00:00:16"},
           "ip": {"version": 6, "src": "fe80::1", "dst": "ff02::16", "ttl": 1},
           "icmp": {"version": 6, "type": 143, "name": "multicast listener report v2"},
           "role": {"code": "other", "text": "MLD"}, "cause": {"source": "kernel", "text": "kernel MLD"}}
    (tmp_path / "packets.jsonl").write_text("".join(json.dumps(p) + "\n" for p in (first, again, copy, mld))
                                            + "not json\n")
    call = {"id": 3, "node": "h1", "call": "send", "args": {"nbytes": 5}, "ret": 5, "sock": "1:3:1",
            "t_start_ns": T0 + 500, "t_end_ns": T0 + 2500}
    (tmp_path / "calls.jsonl").write_text(json.dumps(call) + "\n")
    report = {"lab": "demo", "title": "a </script><script>alert(1)</script> title", "nodes": NODES,
              "observations": [{"label": "payload", "ok": True, "detail": "bytes match; frames 1, 2 and 3"}],
              "questions": [{"id": "q", "text": "Which TTL does frame 3 carry?"}],
              "answers": {"q": "SECRET-ANSWER-63"}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "lab.yaml").write_text("concept: |\n  # Title\n  Some `code` and <b>markup</b>\n")
    return tmp_path


def test_hops_lost_mark_and_what_my_program_caused(run_dir: Path) -> None:
    data = build_page_data(load_run(run_dir))
    lanes = [lane["name"] for lane in data["lanes"]]
    assert lanes == ["h1", "r1", "h2"]
    p = data["P"]
    assert p["n"] == [1, 2, 3, 4]
    hops = [(lanes[s], lanes[d]) for s, d in zip(p["s"], p["d"], strict=True)]
    assert hops[:3] == [("h1", "r1"), ("h1", "r1"), ("r1", "h2")]
    assert p["bg"] == [0, 0, 0, 1] and p["mine"] == [1, 1, 1, 0]
    assert p["copy"] == [0, 0, 2, 0]
    lost = data["lost"]["1"]
    assert lost["carried_by"] == 2 and (lanes[lost["from"]], lanes[lost["to"]]) == ("r1", "h2")
    assert data["meta"]["background"] == {"MLD": 1}
    assert any("not JSON" in n for n in data["meta"]["notes"])  # the bad line is counted, not guessed at
    # events: the call starts before its packets and returns after them
    kinds = data["events"]["k"]
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
