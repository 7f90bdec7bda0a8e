"""The first lab end to end on real namespaces: issue 2's definition of done, checked on a real run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.root
LAB = [sys.executable, "-m", "lab"]


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def echo_run(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]):
    require_tool("dumpcap")
    require_tool("tshark")
    from lab.runner import run_lab

    before_ns, before_links = _netns(), _links()
    out = tmp_path_factory.mktemp("tcp-echo")
    result = run_lab("tcp-echo", out)
    mine_ns = {ns for ns in _netns() - before_ns if result.report["run_id"] in ns}
    mine_links = {ln for ln in _links() - before_links if result.report["run_id"] in ln}
    return result, mine_ns, mine_links


def _packets(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "packets.jsonl").read_text().splitlines()]


def _calls(out: Path) -> dict[int, dict]:
    return {c["id"]: c for c in map(json.loads, (out / "calls.jsonl").read_text().splitlines())}


def test_outputs_exist_and_the_run_is_clean(echo_run) -> None:
    result, leftover_ns, leftover_links = echo_run
    for name in (
        "capture.pcapng",
        "annotated.pcapng",
        "calls.jsonl",
        "packets.jsonl",
        "ladder.txt",
        "report.json",
    ):
        assert (result.out / name).stat().st_size > 0, name
    assert result.report["ok"], result.failures
    assert not leftover_ns and not leftover_links


def _tshark_fields(path: Path, *fields: str) -> list[str]:
    argv = ["tshark", "-r", str(path), "-T", "fields"] + [arg for f in fields for arg in ("-e", f)]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


def test_every_packet_of_the_annotated_capture_carries_a_comment(echo_run) -> None:
    result, *_ = echo_run
    comments = _tshark_fields(result.out / "annotated.pcapng", "frame.number", "frame.comment")
    raw_times = _tshark_fields(result.out / "capture.pcapng", "frame.time_epoch")
    annotated_times = _tshark_fields(result.out / "annotated.pcapng", "frame.time_epoch")
    assert len(comments) == len(raw_times) > 0 and annotated_times == raw_times  # same packets, same times
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1].strip() for line in comments)


def test_handshake_roles_and_causes(echo_run) -> None:
    result, *_ = echo_run
    pkts = [p for p in _packets(result.out) if p.get("tcp")]
    calls = _calls(result.out)
    syn, synack, ack = pkts[0], pkts[1], pkts[2]
    assert [p["role"]["code"] for p in (syn, synack, ack)] == ["syn", "syn-ack", "handshake-ack"]
    assert syn["cause"]["source"] == "call"
    assert [calls[i]["call"] for i in syn["cause"]["calls"]] == ["connect"]
    assert calls[syn["cause"]["calls"][0]]["node"] == "h1"
    assert synack["cause"]["source"] == "kernel" and synack["cause"]["answers"] == syn["number"]
    assert [calls[i]["call"] for i in synack["cause"]["related"]] == ["listen"]
    assert ack["cause"]["source"] == "kernel" and ack["cause"]["answers"] == synack["number"]
    assert [calls[i]["call"] for i in ack["cause"]["related"]] == ["connect"]
    accept = next(c for c in calls.values() if c["call"] == "accept")
    assert accept["t_end_ns"] >= ack["ts_ns"], "accept() cannot return before the handshake completed"


def test_each_data_segment_is_caused_by_the_sendall_whose_bytes_it_carries(echo_run) -> None:
    result, *_ = echo_run
    calls = _calls(result.out)
    data = [p for p in _packets(result.out) if p.get("tcp") and p["tcp"]["len"] > 0]
    assert data, "the echo exchanged no data"
    isn: dict[tuple, int] = {}
    for p in _packets(result.out):
        t = p.get("tcp")
        if t and "SYN" in t["flags"]:
            isn[(p["ip"]["src"], t["sport"])] = t["seq_raw"]
    for p in data:
        t = p["tcp"]
        start = (t["seq_raw"] - isn[(p["ip"]["src"], t["sport"])] - 1) % 2**32
        senders = [calls[i] for i in p["cause"]["calls"]]
        assert senders and all(c["call"] == "sendall" for c in senders), p["cause"]
        assert senders[0]["sent_before"] <= start < senders[-1]["sent_after"]
        assert start + t["len"] <= senders[-1]["sent_after"]
        assert senders[0]["local"][1] == t["sport"]


def test_coverage_is_complete_and_the_ladder_names_both_hosts(echo_run) -> None:
    result, *_ = echo_run
    cov = result.report["coverage"]
    assert cov["explained"] == cov["total"] > 0
    assert cov["capture_complete"] is True and result.report["capture"]["dropped"] == 0
    assert result.ladder.splitlines()[1].startswith("capture: complete (")
    assert "h1" in result.ladder.splitlines()[3] and "h2" in result.ladder.splitlines()[3]
    assert "connect(" in result.ladder and "SYN" in result.ladder


def test_cli_run_and_show(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dumpcap")
    done = subprocess.run(
        [*LAB, "run", "tcp-echo", "--out", str(tmp_path / "run"), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "explained:" in done.stdout and "annotated.pcapng" in done.stdout
    shown = subprocess.run([*LAB, "show", str(tmp_path / "run")], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "SYN" in shown.stdout


def test_without_root_one_line_error_points_at_loopback(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv not installed")
    env = {**os.environ, "HOME": "/"}
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*nobody, sys.executable, "-c", "import lab"], cwd="/", capture_output=True, env=env
    )
    if probe.returncode != 0:
        pytest.skip("the unprivileged user cannot read this checkout, so it cannot run lab")
    out = tmp_path / "x"
    done = subprocess.run(
        [*nobody, *LAB, "run", "tcp-echo", "--out", str(out)],
        cwd="/",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "root" in lines[0] and "--loopback" in lines[0]


def test_missing_dumpcap_points_at_make_setup(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ip", "strace"):
        if shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        [*LAB, "run", "tcp-echo", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bindir)},
        timeout=60,
    )
    assert done.returncode == 5
    assert (
        done.stderr.strip() == "lab: dumpcap is not installed (needed to capture packets); run `make setup`"
    )
    assert "Traceback" not in done.stderr


def test_a_failing_program_keeps_the_capture_and_leaves_nothing(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        "name: broken\nsummary: a client that fails\nconcept: failure handling\ntopology: two-hosts\nsteps:\n"
        "  - {name: client, node: h1, run: [python3, -c, 'import sys; sys.exit(\"no peer, giving up\")']}\n"
    )
    done = subprocess.run(
        [*LAB, "run", str(spec), "--out", str(tmp_path / "out"), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 10, done.stderr
    assert (
        "exited 1, expected 0 (no peer, giving up)" in done.stderr
        and len(done.stderr.strip().splitlines()) == 1
    )
    assert (tmp_path / "out" / "capture.pcapng").stat().st_size > 0
    run_id = json.loads((tmp_path / "out" / "report.json").read_text())["run_id"]
    assert not [ns for ns in _netns() if run_id in ns]
    assert not [ln for ln in _links() if run_id in ln]


def test_ctrl_c_tears_everything_down_and_keeps_the_capture(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    import signal
    import time

    spec = tmp_path / "slow.yaml"
    spec.write_text(
        "name: slow\nsummary: a client that waits\nconcept: interruption\ntopology: two-hosts\nsteps:\n"
        "  - {name: client, node: h1, run: [python3, -c, 'import time; time.sleep(60)'], timeout: 90}\n"
    )
    proc = subprocess.Popen(
        [*LAB, "run", str(spec), "--out", str(tmp_path / "out")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = None
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("network ") and " up:" in line:
            run_id = line.split()[1]
        if "client started" in line or "capturing on" in line:
            break
    assert run_id, "the run never reported its network"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("lab: interrupted (SIGINT); partial outputs in ")
    assert (tmp_path / "out" / "PARTIAL").read_text().startswith("interrupted by SIGINT during programs")
    assert not [ns for ns in _netns() if run_id in ns]
    assert (tmp_path / "out" / "capture.pcapng").stat().st_size > 0


def test_without_capture_privileges_one_line_and_no_output(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv not installed")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            setpriv,
            "--bounding-set=-net_raw,-net_admin",
            *LAB,
            "run",
            "tcp-echo",
            "--loopback",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "capturing packets needs root" in lines[0]
    assert not out.exists()


def test_loopback_refused_for_a_lab_that_needs_namespaces(tmp_path: Path) -> None:
    done = subprocess.run(
        [*LAB, "run", "routed", "--loopback", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no loopback variant" in done.stderr
    assert not (tmp_path / "out").exists()
