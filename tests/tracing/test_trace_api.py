"""wrap_command picks the recorder; merge_traces/load_calls merge and read logs; `lab trace` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.errors import ToolMissingError, TraceError, UsageError
from lab.tracing import INJECT_DIR, is_python_command, load_calls, merge_traces, wrap_command
from lab.tracing.merge import resolve_wildcard_locals
from tests.helpers.builders import tracer_line


def test_python_commands_get_the_injected_tracer(tmp_path: Path) -> None:
    argv, env = wrap_command(
        ["python3", "-m", "http.server", "8000"], tmp_path / "t", "h2", python="/x/python"
    )
    assert argv == ["/x/python", "-m", "http.server", "8000"]
    assert env["PYTHONPATH"].split(":")[0] == str(INJECT_DIR) and (INJECT_DIR / "sitecustomize.py").is_file()
    assert env["LAB_NODE"] == "h2" and Path(env["LAB_TRACE_DIR"]) == (tmp_path / "t").resolve()
    assert wrap_command(["/usr/bin/python3.11", "p.py"], tmp_path, "h1", python="/x/py")[0] == [
        "/x/py",
        "p.py",
    ]
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env python3\nprint(1)\n")
    script.chmod(0o755)
    assert is_python_command([str(script)])
    assert wrap_command([str(script)], tmp_path, "h1")[0] == [str(script)]  # its own interpreter, our env


def test_everything_else_runs_under_strace(tmp_path: Path) -> None:
    first, env = wrap_command(["curl", "-s", "http://198.18.0.2/"], tmp_path, "h1")
    second, _ = wrap_command(["nc", "-l", "5000"], tmp_path, "h1")
    assert env == {} and Path(first[0]).name == "strace"
    assert first[first.index("--") + 1 :] == ["curl", "-s", "http://198.18.0.2/"]
    assert {"-f", "-ttt", "-T", "-yy"} <= set(first)
    outs = [Path(a[a.index("-o") + 1]).name for a in (first, second)]
    assert outs == ["strace-h1-1.txt", "strace-h1-2.txt"]
    assert not is_python_command(["python3", "-I", "prog.py"])  # -I ignores PYTHONPATH: strace instead
    assert not is_python_command(["python3", "-sE", "prog.py"])
    assert is_python_command(["python3", "-u", "prog.py"])


def test_bad_input_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="empty command"):
        wrap_command([], tmp_path, "h1")
    with pytest.raises(UsageError, match="bad node name"):
        wrap_command(["curl"], tmp_path, "h1; rm")
    monkeypatch.setattr("lab.tracing.wrap.shutil.which", lambda name: None)
    with pytest.raises(ToolMissingError, match="strace is not installed"):
        wrap_command(["curl"], tmp_path, "h1")


def record(t: int, name: str = "send", **kw) -> dict:
    """A tracer's log line of call ``name`` by pid 1 from ``t`` for 1 ns, its byte counters at 0."""
    own = {"pid": 1, "tid": 1, "t_start_ns": t, "t_end_ns": t + 1, "sent_before": 0, "sent_after": 0,
           "recv_before": 0, "recv_after": 0}
    return tracer_line(name, **{**own, **kw})


def write_log(path: Path, records: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_merge_orders_by_start_time_and_numbers(tmp_path: Path) -> None:
    write_log(tmp_path / "calls-h1-10.jsonl", [record(5), record(30, "close")])
    write_log(
        tmp_path / "calls-h2-20.jsonl",
        [record(10, "recv", node="h2", pid=20)],
        tail='{"tracer": "python", "call": "cut sho',
    )  # the writer died mid-line
    recs = merge_traces(tmp_path, tmp_path / "out" / "calls.jsonl")
    assert [(r["id"], r["t_start_ns"], r["call"]) for r in recs] == [
        (1, 5, "send"),
        (2, 10, "recv"),
        (3, 30, "close"),
    ]
    assert list(recs[0])[:4] == ["schema_version", "id", "tracer", "node"]
    assert load_calls(tmp_path / "out" / "calls.jsonl") == recs


def test_merge_rejects_broken_logs(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="does not exist"):
        merge_traces(tmp_path / "nope", tmp_path / "calls.jsonl")
    (tmp_path / "calls-h1-1.jsonl").write_text('not json\n{"call": "x", "t_start_ns": 1}\n')
    with pytest.raises(TraceError, match=r"calls-h1-1.jsonl:1: not a JSON call record"):
        merge_traces(tmp_path, tmp_path / "calls.jsonl")
    with pytest.raises(TraceError, match="cannot read"):
        load_calls(tmp_path / "missing.jsonl")


def test_wildcard_local_resolved_from_the_other_end() -> None:
    client = record(1, local=["0.0.0.0", 40000], peer=["198.18.0.2", 53], tracer="strace")
    server = record(2, node="h2", local=["198.18.0.2", 53], peer=["198.18.0.1", 40000])
    loop = record(3, local=["0.0.0.0", 41000], peer=["127.0.0.1", 53])
    lone = record(4, local=["0.0.0.0", 42000], peer=["198.18.0.9", 53])
    resolve_wildcard_locals([client, server, loop, lone])
    assert client["local"] == ["198.18.0.1", 40000] and loop["local"] == ["127.0.0.1", 41000]
    assert lone["local"] == ["0.0.0.0", 42000]  # nothing says which source address: left as it is


def lab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, timeout=60, cwd=cwd)


def test_cli_traces_a_python_program(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("import socket\na, b = socket.socketpair()\na.sendall(b'hi')\nprint(b.recv(2))\n")
    out = lab(
        "trace", "--out", str(tmp_path / "run"), "--node", "h1", "--", "python3", str(prog), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert "b'hi'" in text and "socketpair 1" in text and "2 sockets:" in text
    recs = load_calls(tmp_path / "run" / "calls.jsonl")
    assert [r["call"] for r in recs][:3] == ["socketpair", "sendall", "recv"] and recs[0]["node"] == "h1"


def test_cli_node_defaults_to_lab_node_set_by_lab_exec(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("import socket\nsocket.socket().close()\n")
    argv = [sys.executable, "-m", "lab", "trace", "--out", str(tmp_path / "run"), "--", "python3", str(prog)]
    env = {**os.environ, "LAB_NODE": "h5"}
    out = subprocess.run(argv, capture_output=True, timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert {r["node"] for r in load_calls(tmp_path / "run" / "calls.jsonl")} == {"h5"}


def test_cli_json_and_strace(tmp_path: Path) -> None:
    out = lab(
        "trace", "--json", "--out", str(tmp_path / "run"), "--", "nc", "-z", "127.0.0.1", "9", cwd=tmp_path
    )
    assert out.returncode == 10 and out.stderr.decode().startswith("lab: nc exited with status 1")
    summary = json.loads(out.stdout)
    assert summary["tracer"] == "strace" and summary["by_call"]["connect"] >= 1
    assert any(s["peer"] == ["127.0.0.1", 9] for s in summary["sockets"])


def test_cli_bad_input(tmp_path: Path) -> None:
    out = lab("trace", "--", "no-such-program-here", cwd=tmp_path)
    assert (
        out.returncode == 2 and out.stderr.decode() == "lab: trace: command not found: no-such-program-here\n"
    )
    assert not (tmp_path / "captures").exists()
    out = lab("trace", "--node", "bad name", "--out", str(tmp_path / "r"), "--", "true", cwd=tmp_path)
    assert (
        out.returncode == 2
        and "bad node name" in out.stderr.decode()
        and "Traceback" not in out.stderr.decode()
    )
    assert not (tmp_path / "r").exists()
    out = lab("trace", "--timeout", "-1", "--out", str(tmp_path / "r"), "--", "true", cwd=tmp_path)
    assert out.returncode == 2 and "--timeout" in out.stderr.decode() and not (tmp_path / "r").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = lab("trace", "--out", str(blocker / "r"), "--", "true", cwd=tmp_path)
    err = out.stderr.decode()
    assert out.returncode == 2 and err.startswith("lab: cannot create output directory") and (
        err.count("\n") == 1
    )
    out = lab("trace", "--out", str(tmp_path / "none"), "--", "true", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.decode().startswith("0 socket calls recorded")


def test_cli_timeout_stops_the_command_and_keeps_the_trace(tmp_path: Path) -> None:
    prog = tmp_path / "slow.py"
    prog.write_text("import socket, time\nsocket.socket().close()\ntime.sleep(60)\n")
    out = lab(
        "trace", "--timeout", "1", "--out", str(tmp_path / "r"), "--", "python3", str(prog), cwd=tmp_path
    )
    assert out.returncode == 10 and "still running after 1 s; stopped" in out.stderr.decode()
    assert [r["call"] for r in load_calls(tmp_path / "r" / "calls.jsonl")] == ["socket", "close"]
