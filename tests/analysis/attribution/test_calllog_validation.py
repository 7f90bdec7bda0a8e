"""``lab analyze --calls`` with broken call logs: each one line naming the file, the line of the first bad
record and what is wrong -- never a traceback. Logs are made by mutating real ones (a TCP and a UDP lab
run, checked in under tests/data/), one broken record each, at a seeded random line."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.analysis.attribution.calllog import read_call_log
from lab.cli.main import main
from lab.errors import TraceError
from tests.helpers.records import validate_dir

DATA = Path(__file__).resolve().parents[2] / "data"
RUNS = ("tcp-echo-run", "udp-echo-run")

Mutation = Callable[[dict], "dict | list | str | int | None | bytes"]


def _set(key: str, value: object) -> Mutation:
    return lambda rec: {**rec, key: value}


def _drop(key: str) -> Mutation:
    return lambda rec: {k: v for k, v in rec.items() if k != key}


def _inner(outer: str, key: str, value: object) -> Mutation:
    # a raw JSON object about to be broken, not a record: a null or absent ``outer`` becomes {key: value}
    return lambda rec: {**rec, outer: {**(rec[outer] if rec.get(outer) is not None else {}), key: value}}


# name -> (mutation of one record, what the message must say); a mutation may return raw bytes for the line
BROKEN: dict[str, tuple[Mutation, str]] = {
    "garbage": (lambda rec: b"this is not json", "not JSON"),
    "cut-short": (lambda rec: json.dumps(rec)[:40].encode(), "not JSON"),
    "latin1": (lambda rec: json.dumps(rec).replace('"call"', '"c\\u00e9"').encode()
               .replace(b"\\u00e9", b"\xe9"), "not UTF-8"),
    "nul-byte": (lambda rec: b"\0" + json.dumps(rec).encode(), "not JSON"),
    "array": (lambda rec: [rec], "a call record is a JSON object, not an array"),
    "string": (lambda rec: "call", "a call record is a JSON object, not a string"),
    "number": (lambda rec: 7, "a call record is a JSON object, not an integer"),
    "null": (lambda rec: None, "a call record is a JSON object, not null"),
    "no-call": (_drop("call"), "missing field 'call'"),
    "no-start": (_drop("t_start_ns"), "missing field 't_start_ns'"),
    "call-int": (_set("call", 5), "field 'call' must be a non-empty string"),
    "call-empty": (_set("call", ""), "field 'call' must be a non-empty string"),
    "start-string": (_set("t_start_ns", "soon"), "field 't_start_ns' must be an integer"),
    "start-negative": (_set("t_start_ns", -1), "field 't_start_ns' -1 out of range"),
    "start-float": (_set("t_start_ns", 1.5), "field 't_start_ns' must be an integer, not a number"),
    "start-bool": (_set("t_start_ns", True), "field 't_start_ns' must be an integer, not a boolean"),
    "start-huge": (_set("t_start_ns", 10**30), "out of range"),
    "start-nan": (lambda rec: json.dumps({**rec, "t_start_ns": float("nan")}).encode(), "must be an integer"),
    "end-before-start": (lambda rec: {**rec, "t_end_ns": rec["t_start_ns"] - 1}, "bad times: t_end_ns"),
    "end-string": (_set("t_end_ns", "x"), "field 't_end_ns' must be an integer"),
    "sent-half": (lambda rec: {**rec, "sent_before": None, "sent_after": 5}, "go together"),
    "sent-backwards": (lambda rec: {**rec, "sent_before": 10, "sent_after": 5}, "bad byte offsets"),
    "sent-string": (_set("sent_before", "0"), "field 'sent_before' must be an integer"),
    "recv-negative": (lambda rec: {**rec, "recv_before": -5, "recv_after": 0}, "out of range"),
    "args-list": (_set("args", []), "field 'args' must be an object"),
    "args-string": (_set("args", "x"), "field 'args' must be an object"),
    "local-int": (_set("local", 5), "field 'local' must be an address"),
    "local-port-range": (_set("local", ["198.18.0.1", 70000]), "port must be an integer 0..65535"),
    "local-port-string": (_set("local", ["198.18.0.1", "80"]), "port must be an integer"),
    "peer-object": (_set("peer", {"a": 1}), "field 'peer' must be an address"),
    "peer-short": (_set("peer", ["198.18.0.1"]), "field 'peer' must be an address"),
    "dgram-string": (_set("dgram", "x"), "field 'dgram' must be an object"),
    "dgram-peer": (_inner("dgram", "peer", 5), "field 'dgram.peer' must be an address"),
    "dgram-len": (_inner("dgram", "len", "3"), "field 'dgram.len' must be an integer"),
    "dgram-sha1": (_inner("dgram", "sha1", 5), "field 'dgram.sha1' must be a string"),
    "ret-sock": (_set("ret", {"sock": [1]}), "field 'ret.sock' must be a socket id"),
    "ret-peer": (_set("ret", {"sock": "1:2:3", "peer": "x" and 7}), "field 'ret.peer' must be an address"),
    "id-string": (_set("id", "one"), "field 'id' must be an integer"),
    "node-int": (_set("node", 5), "field 'node' must be a string"),
    "sock-list": (_set("sock", [1, 2]), "field 'sock' must be a socket id"),
    "error-int": (_set("error", 111), "field 'error' must be a string"),
    "type-int": (_set("type", 1), "field 'type' must be a string"),
    "pid-string": (_set("pid", "696"), "field 'pid' must be an integer"),
    "nbytes-negative": (_set("nbytes", -1), "field 'nbytes' -1 out of range"),
    "fd-float": (_set("fd", 3.0), "field 'fd' must be an integer"),
    "deep-args": (lambda rec: json.dumps(rec)[:-1].encode() + b', "x": ' + b"[" * 100_000 + b"]" * 100_000
                  + b"}", "nested too deeply"),
}


def _lines(run: str) -> list[str]:
    return (DATA / run / "calls.jsonl").read_text().splitlines()


def broken_logs(seed: int = 10) -> Iterator[tuple[str, str, int, bytes, str]]:
    """(case id, run, line of the broken record, file bytes, expected message part) per case and run."""
    rng = random.Random(seed)
    for name, (mutate, message) in BROKEN.items():
        for run in RUNS:
            lines = _lines(run)
            k = rng.randrange(len(lines))
            rec = json.loads(lines[k])
            if name.startswith("dgram") and rec.get("dgram") is None:  # a datagram call, where there is one
                k = next((i for i, text in enumerate(lines) if '"dgram":{' in text), k)
                rec = json.loads(lines[k])
            bad = mutate(rec)
            raw = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
            before, after = [t.encode() for t in lines[:k]], [t.encode() for t in lines[k + 1:]]
            data = b"\n".join([*before, raw, *after]) + b"\n"
            yield f"{name}-{run}", run, k + 1, data, message


CASES = list(broken_logs())


def test_the_generator_makes_every_case() -> None:
    assert len(CASES) == 2 * len(BROKEN) >= 80
    for run in RUNS:  # and the logs it starts from are valid
        assert len(read_call_log(DATA / run / "calls.jsonl")) == len(_lines(run)) > 10


@pytest.mark.parametrize(("run", "line", "data", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_broken_call_log_is_one_line_with_its_line_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], run: str, line: int, data: bytes,
        message: str) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_bytes(data)
    code = main(["analyze", str(DATA / run / "capture.pcapng"), "--calls", str(calls),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == TraceError.exit_code, err
    assert "\n" not in err and "Traceback" not in err, err
    assert f"{calls}: line {line}: " in err and message in err, err
    assert not (tmp_path / "o").exists()  # refused before any output


def test_duplicate_ids_and_missing_ids(tmp_path: Path) -> None:
    lines = _lines("tcp-echo-run")
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(lines + [lines[2]]) + "\n")
    with pytest.raises(TraceError, match=f"line {len(lines) + 1}: id 3 already used on line 3"):
        read_call_log(calls)
    recs = [json.loads(t) for t in lines]
    for rec in recs:
        del rec["id"]
        rec["t_end_ns"] = None if rec["call"] == "close" else rec["t_end_ns"]
    calls.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    got = read_call_log(calls)
    assert [r["id"] for r in got] == list(range(1, len(recs) + 1))
    assert all("t_end_ns" not in r for r in got if r["call"] == "close")


def test_a_directory_or_a_fifo_as_call_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    os.mkfifo(tmp_path / "fifo")
    pcap = str(DATA / "tcp-echo-run" / "capture.pcapng")
    for target, what in ((tmp_path, "is a directory"), (tmp_path / "fifo", "not a regular file")):
        code = main(["analyze", pcap, "--calls", str(target), "--out", str(tmp_path / "o")])
        assert code == TraceError.exit_code
        err = capsys.readouterr().err.strip()
        assert what in err and "\n" not in err, err


def test_schema_valid_but_odd_logs_never_crash_attribution(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Records that pass the checks with shuffled, extreme but well-typed values: attribution must finish."""
    rng = random.Random(7)
    ints = [0, 1, 2**63 - 1, 2**32, 5, 1000]
    runs = 0
    for trial in range(24):
        run = RUNS[trial % 2]
        recs = [json.loads(t) for t in _lines(run)]
        for rec in rng.sample(recs, k=max(1, len(recs) // 3)):
            key = rng.choice(["t_start_ns", "t_end_ns", "sent", "recv", "sock", "local", "peer", "call",
                              "args", "ret", "dgram", "node"])
            if key in ("sent", "recv"):
                a, b = sorted(rng.sample(ints, 2))
                rec[f"{key}_before"], rec[f"{key}_after"] = a, b
            elif key in ("t_start_ns", "t_end_ns"):
                rec["t_start_ns"] = rng.choice([0, rec["t_start_ns"], 2**62])
                rec["t_end_ns"] = rec["t_start_ns"] + rng.choice([0, 1, 10**12])
            elif key == "sock":
                rec["sock"] = rng.choice(["x", 0, recs[0].get("sock") or "s", None])
            elif key in ("local", "peer"):
                rec[key] = rng.choice([["::ffff:198.18.0.1", 0], ["", 65535], "/tmp/sock",
                                       ["198.18.0.2", 5000, 0, 0]])
            elif key == "call":
                rec["call"] = rng.choice(["accept", "connect", "sendto", "recvfrom", "close", "shutdown",
                                          "exit", "setsockopt", "listen", "??"])
            elif key == "args":
                rec["args"] = rng.choice([{}, {"how": "SHUT_WR"}, {"optname": 13, "value": [1, 0]},
                                          {"address": ["198.18.0.2", 5000]},
                                          {"via": "gc", "last_ref": False}])
            elif key == "ret":
                rec["ret"] = rng.choice([{"sock": "z", "peer": ["198.18.0.1", 1]}, {}, [1, 2], "x", -1])
            elif key == "dgram":
                rec["dgram"] = rng.choice([{}, {"peer": ["198.18.0.1", 53812], "len": 3},
                                           {"len": 0, "sha1": ""}])
            else:
                rec["node"] = rng.choice(["", "h1", "x" * 100])
        calls = tmp_path / f"calls{trial}.jsonl"
        calls.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
        code = main(["analyze", str(DATA / run / "capture.pcapng"), "--calls", str(calls),
                     "--out", str(tmp_path / f"o{trial}")])
        err = capsys.readouterr().err
        assert "Traceback" not in err and (code == 0 or ("\n" not in err.strip() and code != 1)), err
        runs += code == 0
    assert runs >= 12  # most odd logs are still analyzable; the point is that none crashes


def _keep(*keys: str) -> Mutation:
    return lambda rec: {k: v for k, v in rec.items() if k in keys}


# a log made elsewhere: any key but call and t_start_ns may be left out, a raw datagram may not say its hash
SPARSE: dict[str, Mutation] = {
    "call-and-start-only": _keep("call", "t_start_ns"),
    "no-error-dgram-args-end": lambda rec: {k: v for k, v in rec.items()
                                            if k not in ("error", "dgram", "args", "t_end_ns")},
    "raw-datagram-without-hash": lambda rec: {**rec, "dgram": {"raw": True, "level": "link"}}
    if rec.get("dgram") is not None or rec["call"].startswith(("send", "recv")) else rec,
}


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("name", list(SPARSE))
def test_a_sparse_call_log_is_analyzed(tmp_path: Path, capsys: pytest.CaptureFixture[str], run: str,
                                       name: str) -> None:
    """Records that leave out what read_call_log lets them leave out are attributed, never a traceback."""
    recs = [SPARSE[name](json.loads(t)) for t in _lines(run)]
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    out = tmp_path / "o"
    code = main(["analyze", str(DATA / run / "capture.pcapng"), "--calls", str(calls), "--out", str(out),
                 "--no-html"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    assert validate_dir(out)["packet"] > 10  # every packet attributed, in the schema
