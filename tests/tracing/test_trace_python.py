"""The in-process tracer on real sockets (127.0.0.1 and ::1): every call recorded, errors unchanged,
byte offsets exact, library sockets (socketserver, http.client, urllib, asyncio, smtplib, ftplib) covered."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lab.tracing import load_calls, merge_traces, wrap_command
from tests.helpers.records import validate_dir
from tests.helpers.tracing import by_sock, check_offsets, run_traced

PROGRAMS = Path(__file__).parent / "programs"


def trace_program(name: str, tmp: Path, *args: str) -> tuple[dict | str, list[dict]]:
    proc = run_traced(["python3", str(PROGRAMS / name), *args], tmp / "traces", node="h1")
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().strip()
    records = merge_traces(tmp / "traces", tmp / "calls.jsonl")
    assert records == load_calls(tmp / "calls.jsonl")
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert all(r["tracer"] == "python" and r["node"] == "h1" for r in records)
    assert [r["t_start_ns"] for r in records] == sorted(r["t_start_ns"] for r in records)
    assert all(r["t_start_ns"] <= r["t_end_ns"] for r in records)
    assert check_offsets(records) > 0
    try:
        return json.loads(out), records
    except json.JSONDecodeError:
        return out, records


def one(records: list[dict], **match) -> dict:
    found = [r for r in records if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


@pytest.mark.parametrize("version", ["4", "6"])
def test_every_method_is_recorded_with_addresses_and_offsets(tmp_path: Path, version: str) -> None:
    if version == "6" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    facts, recs = trace_program("echo_all_calls.py", tmp_path, version)
    names = Counter(r["call"] for r in recs)
    for call in ("socket", "setsockopt", "getsockopt", "bind", "listen", "accept", "connect", "settimeout",
                 "setblocking", "getsockname", "getpeername", "fileno", "send", "sendall", "sendmsg", "recv",
                 "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "shutdown", "close"):
        assert names[call] >= 1, call
    host = "::1" if version == "6" else "127.0.0.1"
    family = "AF_INET6" if version == "6" else "AF_INET"
    connect = one(recs, call="connect")
    client = connect["sock"]
    assert connect["args"]["address"] == [host, facts["port"]] and connect["family"] == family
    assert connect["local"] == facts["client_local"] and connect["peer"] == [host, facts["port"]]
    accept = one(recs, call="accept")
    server = accept["ret"]["sock"]
    assert accept["ret"]["peer"] == facts["accepted_peer"] == facts["client_local"]
    assert one(recs, call="fileno")["ret"] == facts["fileno"] == connect["fd"]
    assert one(recs, call="send")["nbytes"] == facts["send"] == 5
    sendmsg = one(recs, call="sendmsg")
    assert (sendmsg["nbytes"], sendmsg["sent_before"], sendmsg["sent_after"]) == (7, 11, 18)
    # sendall is one record moving all of its data
    sendalls = [r for r in recs if r["call"] == "sendall" and r["sock"] == client]
    assert [r["nbytes"] for r in sendalls] == [6, 8, 8, 6, 4]
    srv = by_sock(recs)[server]
    assert srv[-1]["call"] == "close" and srv[-1]["recv_after"] == 18 + 26 and srv[-1]["sent_after"] == 3
    cli = by_sock(recs)[client]
    closes = [r for r in recs if r["call"] == "close"]
    assert cli[-1]["call"] == "close" and cli[-1]["recv_after"] == 3 and cli[-1]["sent_after"] == 18 + 26
    assert any(r["args"].get("already_closed") for r in closes)  # the second close()
    eof = [r for r in srv if r["call"] == "recv" and r["nbytes"] == 0]
    assert len(eof) == 1 and eof[0]["ret"] == 0
    assert one(recs, call="getsockopt")["ret"] == facts["reuse"]
    opt = one(recs, call="setsockopt")["args"]
    assert opt == {"level": "SOL_SOCKET", "optname": "SO_REUSEADDR", "value": 1}
    recvmsg = one(recs, call="recvmsg")
    assert recvmsg["sock"] == server and recvmsg["nbytes"] > 0 and recvmsg["args"]["preview"]


def test_exceptions_reach_the_program_unchanged_and_are_recorded(tmp_path: Path) -> None:
    out, recs = trace_program("exceptions.py", tmp_path)
    assert out == "ok"  # the program asserted the exception classes and errnos itself
    refused = one(recs, call="connect", error="ECONNREFUSED")
    assert refused["exception"] == "ConnectionRefusedError"
    ex = one(recs, call="connect_ex")
    assert ex["ret"] == 111 and ex["error"] == "ECONNREFUSED" and ex["exception"] is None
    blocked, timed_out = [r for r in recs if r["call"] == "recv"]
    assert (blocked["error"], blocked["exception"], blocked["nbytes"]) == ("EAGAIN", "BlockingIOError", 0)
    assert (timed_out["error"], timed_out["exception"]) == ("TimeoutError", "TimeoutError")
    assert one(recs, call="getpeername")["error"] == "ENOTCONN"
    linger = one(recs, call="setsockopt", args={"level": "SOL_SOCKET", "optname": "SO_LINGER",
                                                "value": "0100000000000000", "optlen": 8})
    assert linger["error"] is None
    bad = one(recs, call="send")
    assert bad["exception"] == "TypeError" and bad["nbytes"] == 0 and bad["sent_after"] == 0


def test_partial_sends_keep_offsets_exact(tmp_path: Path) -> None:
    facts, recs = trace_program("partial_send.py", tmp_path)
    sends = [r for r in recs if r["call"] == "send"]
    ok = [r for r in sends if r["error"] is None]
    assert [r["nbytes"] for r in ok] == [r["ret"] for r in ok] == facts["sends"]
    assert any(r["nbytes"] < r["args"]["nbytes"] for r in ok)  # at least one partial send
    assert [r["exception"] for r in sends if r["error"]] == ["BlockingIOError", "BlockingIOError"]
    client = sends[0]["sock"]
    assert by_sock(recs)[client][-1]["sent_after"] == facts["total"]
    server = one(recs, call="accept")["ret"]["sock"]
    assert by_sock(recs)[server][-1]["recv_after"] == facts["total"]


def test_http_client_urllib_and_socketserver(tmp_path: Path) -> None:
    facts, recs = trace_program("http_clients.py", tmp_path)
    assert facts["bodies"] == ["hello from the lab\n"] * 2
    connects = [r for r in recs if r["call"] == "connect"]
    accepts = [r for r in recs if r["call"] == "accept"]
    assert len(connects) == len(accepts) == 2
    socks = by_sock(recs)
    for c, a in zip(connects, accepts, strict=True):
        cli, srv = socks[c["sock"]], socks[a["ret"]["sock"]]
        assert a["ret"]["peer"] == c["local"]
        assert cli[-1]["sent_after"] == srv[-1]["recv_after"] > 0
        assert cli[-1]["recv_after"] == srv[-1]["sent_after"] > 0
        # reads through the file from makefile() are the underlying recv_into calls
        assert any(r["call"] == "recv_into" and r["args"].get("via") == "makefile" for r in cli + srv)
        assert any(r["call"] == "makefile" for r in cli)
    get = next(r for r in recs if r["call"] == "sendall" and r["args"]["preview"].startswith("GET /one"))
    assert get["sock"] == connects[0]["sock"]


def test_asyncio_streams(tmp_path: Path) -> None:
    facts, recs = trace_program("asyncio_streams.py", tmp_path)
    assert facts["reply"] == "HELLO ASYNCIO\n"
    accept = next(r for r in recs if r["call"] == "accept" and r["error"] is None)
    connect = one(recs, call="connect")  # non-blocking connect: in progress, then completes
    socks = by_sock(recs)
    cli, srv = socks[connect["sock"]], socks[accept["ret"]["sock"]]
    assert [r["nbytes"] for r in cli if r["call"] == "send"] == [14]
    assert [r["nbytes"] for r in srv if r["call"] == "send"] == [14]
    assert [r["nbytes"] for r in cli if r["call"] == "recv"][:1] == [14]
    assert cli[-1]["recv_after"] == srv[-1]["sent_after"] == 14
    assert cli[-1]["sent_after"] == srv[-1]["recv_after"] == 14
    assert connect["error"] == "EINPROGRESS" and connect["exception"] == "BlockingIOError"
    assert cli[-1]["peer"] == ["127.0.0.1", facts["port"]]  # learnt once the connection completed


def test_smtplib_ftplib_and_telnetlib(tmp_path: Path) -> None:
    facts, recs = trace_program("mail_ftp.py", tmp_path)
    assert facts["login"].startswith("230")
    previews = [r["args"].get("preview", "") for r in recs if r["call"] == "sendall"]
    assert any(p.startswith("ehlo") for p in previews) and any(p.startswith("USER lab") for p in previews)
    assert any(p.startswith("220 lab FTP") for p in previews)
    connects = [r["peer"][1] for r in recs if r["call"] == "connect"]
    assert set(connects) == {facts["smtp"], facts["ftp"]}
    if facts["telnet"] is not None:  # telnetlib exists up to Python 3.12
        assert facts["telnet"] == "221 bye\r\n" and connects.count(facts["ftp"]) == 2
        assert previews.count("QUIT\r\n") == 3  # smtplib's, ftplib's and telnetlib's


def test_udp_datagrams_carry_peer_length_and_sha1(tmp_path: Path) -> None:
    facts, recs = trace_program("udp.py", tmp_path)
    payloads = (facts["data"], facts["reply"], facts["third"])
    sha = {p: hashlib.sha1(p.encode()).hexdigest()[:16] for p in payloads}
    ping = one(recs, call="sendto", dgram={"peer": facts["a"], "len": 13, "sha1": sha[facts["data"]]})
    got = next(r for r in recs if r["call"] == "recvfrom" and r["dgram"]["sha1"] == sha[facts["data"]])
    assert got["dgram"]["peer"] == facts["b"] and ping["local"][1] == facts["b"][1]
    pong = next(r for r in recs if r["call"] == "sendto" and r["dgram"]["sha1"] == sha[facts["reply"]])
    assert pong["dgram"]["peer"] == facts["b"]
    send = one(recs, call="send")
    assert send["dgram"] == {"peer": facts["a"], "len": 18, "sha1": sha[facts["third"]]}
    into = one(recs, call="recvfrom_into")
    assert into["dgram"]["sha1"] == sha[facts["third"]] and into["type"] == "SOCK_DGRAM"


def test_socketpair_fromfd_dup_detach_sendfile_makefile_fork_gc_exit(tmp_path: Path) -> None:
    facts, recs = trace_program("lifecycle.py", tmp_path)
    pair = one(recs, call="socketpair")
    a, b = pair["ret"]["socks"]
    assert one(recs, call="fromfd")["ret"] == a  # a duplicate fd shares the socket's id and offsets
    assert one(recs, call="dup")["ret"]["sock"] == a
    assert one(recs, call="detach")["ret"] == int(a.split(":")[1])
    adopted = next(r for r in recs if r["call"] == "sendall" and r["args"]["preview"] == "adopted")
    assert adopted["sock"] == a and adopted["sent_before"] == 10
    sendfile = one(recs, call="sendfile")
    assert sendfile["nbytes"] == sendfile["ret"] == facts["sendfile"] == 10000
    deferred = next(r for r in recs if r["call"] == "close" and r["args"].get("deferred"))
    line = one(recs, call="send")
    assert line["args"]["via"] == "makefile" and line["sock"] == deferred["sock"]
    real = next(r for r in recs if r["call"] == "close" and r["args"].get("via") == "makefile")
    assert real["t_start_ns"] > line["t_end_ns"] > deferred["t_end_ns"] and real["sent_after"] == 10022
    # the fork child writes on the inherited socket into its own file; the parent's offsets continue
    assert (tmp_path / "traces" / f"calls-h1-{facts['child']}.jsonl").exists()
    child = one(recs, pid=facts["child"])
    parent = next(r for r in recs if r["sock"] == child["sock"] and r["pid"] != facts["child"]
                  and r["call"] == "sendall")
    assert (child["sent_before"], child["sent_after"]) == (0, 5)
    assert (parent["sent_before"], parent["sent_after"]) == (5, 11)
    gc_close = one(recs, call="close", sock=child["sock"])
    assert gc_close["args"] == {"via": "gc"}
    exits = [r for r in recs if r["call"] == "exit"]
    assert any(r["fd"] == facts["left_open"] and r["recv_after"] == 11 for r in exits)


def test_chains_to_the_sitecustomize_it_shadows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    monkeypatch.setenv("PYTHONPATH", str(other))
    prog = tmp_path / "p.py"
    prog.write_text("import os, socket\nsocket.socket().close()\nprint(os.environ.get('CHAINED'))\n")
    argv, env = wrap_command(["python3", str(prog)], tmp_path / "traces", "h1")
    assert argv[0] == sys.executable and env["PYTHONPATH"].endswith(str(other))
    out = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, timeout=30, check=True)
    assert out.stdout.decode().strip() == "yes"
    recs = merge_traces(tmp_path / "traces", tmp_path / "calls.jsonl")
    assert [r["call"] for r in recs] == ["socket", "close"]


def test_untraced_without_trace_dir(tmp_path: Path) -> None:
    """The injected directory alone changes nothing: no LAB_TRACE_DIR, no patching."""
    code = "import socket, sys; print('send' in vars(socket.socket), '_labtrace' in sys.modules)"
    argv, env = wrap_command(["python3", "-c", code], tmp_path / "traces", "h1")
    traced = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, timeout=30, check=True)
    assert traced.stdout.decode().split() == ["True", "True"]
    env.pop("LAB_TRACE_DIR")
    out = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, timeout=30, check=True)
    assert out.stdout.decode().split() == ["False", "False"]
    assert not list((tmp_path / "traces").glob("calls-*"))


@pytest.mark.root
def test_raw_sockets_record_their_frames_and_packets_by_hash(tmp_path: Path) -> None:
    """AF_PACKET and SOCK_RAW calls carry ``dgram`` with ``raw``, the level hashed and the hash of the
    real bytes (scapy sends this way): a link-level frame whole, a raw IP packet without its header."""
    argv, env = wrap_command(["python3", str(PROGRAMS / "raw_sockets.py")], tmp_path / "traces", "h1",
                             python=sys.executable)
    # a network namespace of its own: lo carries nothing but this test's frames
    proc = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv],
                          env={**os.environ, **env}, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    facts = json.loads(proc.stdout)
    recs = merge_traces(tmp_path / "traces", tmp_path / "calls.jsonl")

    def sha(hexbytes: str) -> str:
        return hashlib.sha1(bytes.fromhex(hexbytes)).hexdigest()[:16]

    frame = one(recs, call="send", family="AF_PACKET")
    assert frame["type"] == "SOCK_RAW" and frame["nbytes"] == facts["sent"] == len(facts["frame"]) // 2
    assert frame["dgram"] == {"raw": True, "level": "link", "peer": None, "len": facts["sent"],
                              "sha1": sha(facts["frame"])}
    copies = [r for r in recs if r["call"] == "recvmsg" and r["family"] == "AF_PACKET"
              and r["dgram"]["sha1"] == sha(facts["frame"])]
    assert sorted(r["dgram"]["pkttype"] for r in copies) == sorted(facts["pkttypes"]) == [0, 4]
    assert all(r["dgram"]["raw"] and r["dgram"]["level"] == "link" for r in copies)
    sendto = one(recs, call="sendto", family="AF_INET")
    assert sendto["type"] == "SOCK_RAW" and sendto["dgram"]["level"] == "ip-payload"
    assert sendto["dgram"]["sha1"] == sha(facts["udp"]) and sendto["dgram"]["len"] == len(facts["udp"]) // 2
    assert sendto["dgram"]["ip"] == {"src": "127.0.0.1", "dst": "127.0.0.1", "id": 0x1234, "proto": 17}
    assert sendto["dgram"]["peer"] == ["127.0.0.1", 0]
    got = one(recs, call="recvfrom", family="AF_INET")
    assert facts["got_ip_payload"] == facts["udp"]
    assert got["dgram"]["sha1"] == sha(facts["udp"]) and got["dgram"]["ip"]["id"] == 0x1234
    assert got["dgram"]["peer"] == [facts["source"], 0]
    assert validate_dir(tmp_path)["call"] == len(recs)  # the raw datagram fields are in the shipped schema
