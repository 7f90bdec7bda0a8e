"""Ground truth for packet attribution: each TCP data segment's call is the one strace saw writing its bytes.

A client on h1 and a server on h2 (two-hosts, real namespaces, real dumpcap) run under the in-process
tracer and, at the same time, under strace. The tracer's records drive attribution (packets.jsonl); strace
is the independent witness. For every captured data segment (byte range from ``seq_raw`` relative to the
SYN's ISN) the attributed send calls must cover exactly its bytes, on the segment's own socket, and every
syscall that strace shows moving those bytes on that 4-tuple (``[sent_before, sent_after)``) must have run
inside the time span of the attributed call that holds them; the same for ``consumed_by`` and the reads.
The check is also run on deliberately wrong pairings (a shifted call id, the right bytes at the wrong
time) to show it can fail.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.records import IP, TCP, CallRecord, PacketRecord

pytestmark = pytest.mark.root
DATA = Path(__file__).parent / "data"
PORT = 5123
TOL_NS = 5_000  # strace -ttt/-T print microseconds: start and duration are each truncated
SYS_OUT = {"sendto", "sendmsg", "write", "writev", "sendfile", "sendmmsg"}
SYS_IN = {"recvfrom", "recvmsg", "read", "readv", "recvmmsg"}
PY_OUT = {"send", "sendall", "sendto", "sendmsg", "sendfile", "write", "writev"}
PY_IN = {"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "recvmsg_into", "read", "readinto"}
FIN_CALLS = {"close", "shutdown", "exit"}
CLIENT_BYTES = 5 + 11 + 3 + 20 + 3000 + 5 * 7 + 40000 + 100 + 1800 + 2500 + 1460 + 3  # gt_client.py PLAN
SERVER_BYTES = 5000 + 4 * 9 + 30000 + 3000 + 2900 + 1  # gt_server.py REPLY
Endpoint = tuple[str, int]


def gt_argv(argv: list[str], out: Path) -> list[str]:
    """strace as an independent witness, kept minimal: no payload, only the calls that move socket bytes."""
    return ["strace", "-f", "-ttt", "-T", "-yy", "-e", "abbrev=none", "-s", "0",
            "-e", "trace=network,write,writev,read,readv,close", "-o", str(out), *argv]


def start(net: Any, node: str, program: str, args: list[str], traces: Path, gt: Path) -> subprocess.Popen:
    from lab.tracing import wrap_command

    argv, env = wrap_command(["python3", str(DATA / program), *args], traces, node, python=sys.executable)
    return net.popen(node, gt_argv(argv, gt), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)


def await_line(proc: subprocess.Popen, want: bytes, timeout: float) -> None:
    """Block until the program prints ``want`` (the server says it listens): checked, not slept for."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    assert line.strip() == want, (line, proc.poll(), proc.stderr.read() if proc.poll() is not None else b"")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=5)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]) -> dict[str, Any]:
    for tool in ("dumpcap", "strace", "ip"):
        require_tool(tool)
    from lab.analysis.attribution import Attributor
    from lab.analysis.pipeline import analyze_capture
    from lab.capture import Capture, CaptureTarget
    from lab.emulation import Network
    from lab.topology import load_topology
    from lab.tracing import merge_traces
    from lab.tracing.strace import parse_strace_file

    tmp = tmp_path_factory.mktemp("attribution-gt")
    traces, gt = tmp / "traces", tmp / "strace"
    gt.mkdir()
    with Network(load_topology("two-hosts")) as net:
        points = net.capture_points()
        targets = [CaptureTarget(p.namespace, p.ifname, p.label, p.bpf) for p in points]
        with Capture(targets, tmp / "capture.pcapng", tmp / "work"):
            server = start(net, "h2", "gt_server.py", [net.ip("h2"), str(PORT)], traces, gt / "h2.txt")
            client = None
            try:
                await_line(server, b"ready", 10)
                client = start(net, "h1", "gt_client.py", [net.ip("h2"), str(PORT)], traces, gt / "h1.txt")
                out, err = client.communicate(timeout=20)
                assert client.returncode == 0, err.decode()[-2000:]
                sout, serr = server.communicate(timeout=20)
                assert server.returncode == 0, serr.decode()[-2000:]
            finally:
                for proc in (server, client):
                    if proc is not None and proc.returncode is None:
                        stop(proc)
        addresses, run_id = {"h1": net.ip("h1"), "h2": net.ip("h2")}, net.run_id
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    leftovers = [line.split()[0] for line in listed.splitlines() if run_id in line]
    calls = merge_traces(traces, tmp / "calls.jsonl")
    analyze_capture(tmp / "capture.pcapng", tmp / "out", calls=calls, attributor=Attributor(calls),
                    iface_nodes={p.label: p.node for p in points}, progress=False)
    packets = [json.loads(line) for line in (tmp / "out" / "packets.jsonl").read_text().splitlines()]
    syscalls = parse_strace_file(gt / "h1.txt", "h1") + parse_strace_file(gt / "h2.txt", "h2")
    return {"packets": packets, "calls": {c["id"]: c for c in calls}, "syscalls": syscalls,
            "addresses": addresses, "leftovers": leftovers, "client_out": out.decode(),
            "server_out": sout.decode(), "dir": tmp}


# -- segments and their byte ranges -----------------------------------------------------------------------
def ends(ip: IP, tcp: TCP) -> tuple[Endpoint, Endpoint]:
    return (ip["src"], tcp["sport"]), (ip["dst"], tcp["dport"])


def data_segments(packets: list[PacketRecord]) -> Iterator[tuple[PacketRecord, Endpoint, Endpoint, int, int]]:
    """Every TCP segment with payload and its stream range ``[start, end)`` (seq_raw minus the SYN's ISN)."""
    isn: dict[tuple[Endpoint, Endpoint], int] = {}
    for p in packets:
        ip, tcp = p["ip"], p["tcp"]
        if tcp is None or ip is None:
            continue
        assert tcp["flags"] is not None and tcp["len"] is not None, f"frame {p['number']}: TCP header cut"
        src, dst = ends(ip, tcp)
        if "SYN" in tcp["flags"].split(","):
            isn[(src, dst)] = tcp["seq_raw"]
        elif tcp["len"] > 0:
            assert (src, dst) in isn, f"frame {p['number']}: data before its direction's SYN was captured"
            start = (tcp["seq_raw"] - isn[(src, dst)] - 1) % (1 << 32)
            yield p, src, dst, start, start + tcp["len"]


def on(rec: CallRecord, local: Endpoint, peer: Endpoint) -> bool:
    """Whether the call (or strace's syscall, converted to the same record) is on that socket pair."""
    here, there = rec["local"], rec["peer"]  # null: not known
    return here is not None and there is not None and tuple(here) == local and tuple(there) == peer


def witnessed(syscalls: list[CallRecord], names: set[str], local: Endpoint,
              peer: Endpoint) -> list[CallRecord]:
    return [s for s in syscalls if s["call"] in names and s["nbytes"] and on(s, local, peer)]


# -- the check ------------------------------------------------------------------------------------------
def check_side(
    label: str,
    start: int,
    end: int,
    attributed: list[CallRecord],
    syscalls: list[CallRecord],
    local: Endpoint,
    peer: Endpoint,
    side: str,
) -> list[str]:
    """Problems with one side's attribution of bytes ``[start, end)`` (empty when strace agrees).

    ``side`` is "sent" or "recv": the offsets compared are ``<side>_before``/``<side>_after``.
    """
    lo, hi = f"{side}_before", f"{side}_after"
    problems: list[str] = []
    if not attributed:
        return [f"{label}: no {side} call attributed"]
    for c in attributed:
        if not on(c, local, peer):
            problems.append(f"{label}: call #{c['id']} {c['call']} is on {c['local']}->{c['peer']}")
        elif not (c[lo] is not None and c[lo] < end and c[hi] > start):
            problems.append(f"{label}: call #{c['id']} {c['call']} bytes [{c[lo]}, {c[hi]}) miss the segment")
    if problems:
        return problems
    reach = start
    for c in sorted(attributed, key=lambda c: c[lo]):
        if c[lo] > reach:
            break
        reach = max(reach, c[hi])
    if reach < end:
        problems.append(f"{label}: attributed calls cover up to {reach}, not {end}")
    seen = [s for s in syscalls if s[lo] < end and s[hi] > start]
    reach = start
    for s in sorted(seen, key=lambda s: s[lo]):
        if s[lo] <= reach:
            reach = max(reach, s[hi])
    if reach < end:
        problems.append(f"{label}: strace shows no syscall moving bytes {reach}-{end - 1}")
    for s in seen:
        holders = [c for c in attributed if c[lo] <= s[lo] and s[hi] <= c[hi] and c["pid"] == s["pid"]]
        inside = [
            c for c in holders
            if c["t_start_ns"] - TOL_NS <= s["t_start_ns"] and s["t_end_ns"] <= c["t_end_ns"] + TOL_NS
        ]
        if not inside:
            who = ", ".join(
                f"#{c['id']} {c['call']} [{c['t_start_ns']}, {c['t_end_ns']}]" for c in attributed
            )
            problems.append(
                f"{label}: strace {s['call']} bytes [{s[lo]}, {s[hi]}) at [{s['t_start_ns']}, "
                f"{s['t_end_ns']}] pid {s['pid']} ran inside none of the attributed calls ({who})"
            )
    return problems


def check_segment(p: PacketRecord, src: Endpoint, dst: Endpoint, start: int, end: int,
                  calls: dict[int, CallRecord], syscalls: list[CallRecord], *,
                  sent_ids: list[int] | None = None, recv_ids: list[int] | None = None) -> list[str]:
    """Problems with one data segment's cause; ``sent_ids``/``recv_ids`` override the packet's (to test)."""
    cause = p["cause"]
    label = f"frame {p['number']} {src[1]}->{dst[1]} bytes {start}-{end - 1}"
    if cause["source"] != "call":
        return [f"{label}: cause source {cause['source']!r} ({cause['text']})"]
    problems = []
    ids = cause.get("calls", []) if sent_ids is None else sent_ids
    sends = [calls[i] for i in ids if calls[i]["call"] not in FIN_CALLS]
    closers = [calls[i] for i in ids if calls[i]["call"] in FIN_CALLS]
    if closers and "FIN" not in p["tcp"]["flags"].split(","):
        problems.append(f"{label}: close/shutdown {[c['id'] for c in closers]} on a segment without FIN")
    problems += [f"{label}: #{c['id']} {c['call']} sends nothing" for c in sends if c["call"] not in PY_OUT]
    problems += check_side(label, start, end, sends, witnessed(syscalls, SYS_OUT, src, dst), src, dst, "sent")
    ids = cause.get("consumed_by", []) if recv_ids is None else recv_ids
    recvs = [calls[i] for i in ids]
    problems += [f"{label}: #{c['id']} {c['call']} receives nothing" for c in recvs if c["call"] not in PY_IN]
    problems += check_side(label, start, end, recvs, witnessed(syscalls, SYS_IN, dst, src), dst, src, "recv")
    return problems


# -- tests ----------------------------------------------------------------------------------------------
def test_the_programs_moved_their_bytes(run: dict[str, Any]) -> None:
    assert run["server_out"].split() == ["received", str(CLIENT_BYTES)]
    assert run["client_out"].split() == ["received", str(SERVER_BYTES)]
    moving = SYS_OUT | SYS_IN
    sockets = {s["sock"] for s in run["syscalls"] if s["call"] in moving and s["family"] == "AF_INET"}
    assert len(sockets) == 2, "strace should see one TCP socket per side"
    assert run["leftovers"] == [], "the network was not torn down"


def test_every_data_segment_is_attributed_to_the_call_strace_saw(run: dict[str, Any]) -> None:
    segments = list(data_segments(run["packets"]))
    assert sum(end - start for _, _, _, start, end in segments) == CLIENT_BYTES + SERVER_BYTES
    problems = []
    for seg in segments:
        problems += check_segment(*seg, run["calls"], run["syscalls"])
    assert not problems, "\n".join(problems[:20])
    # both directions and every shape were exercised: one call over several segments, several calls in one
    # segment (MSG_MORE for certain, Nagle when timing allows), one segment read by several recv calls
    assert {src[0] for _, src, *_ in segments} == set(run["addresses"].values())
    per_call: dict[int, int] = {}
    for p, *_ in segments:
        for i in p["cause"]["calls"]:
            per_call[i] = per_call.get(i, 0) + 1
    assert max(per_call.values()) > 1, "no send call spanned several segments"
    sends = [[i for i in p["cause"]["calls"] if run["calls"][i]["call"] in PY_OUT] for p, *_ in segments]
    assert max(map(len, sends)) > 1, "no segment carried bytes of several send calls"
    assert max(len(p["cause"]["consumed_by"]) for p, *_ in segments) > 1, "no segment read in parts"


def test_the_check_rejects_wrong_pairings(run: dict[str, Any]) -> None:
    calls, syscalls = run["calls"], run["syscalls"]
    segments = list(data_segments(run["packets"]))
    assert segments
    last = max(calls)
    for p, src, dst, start, end in segments:
        assert not check_segment(p, src, dst, start, end, calls, syscalls)
        shifted = [i % last + 1 for i in p["cause"]["calls"]]
        assert check_segment(p, src, dst, start, end, calls, syscalls, sent_ids=shifted), p["number"]
        shifted = [i % last + 1 for i in p["cause"]["consumed_by"]]
        assert check_segment(p, src, dst, start, end, calls, syscalls, recv_ids=shifted), p["number"]
    # the right bytes at the wrong time: only the strace half of the check can see that
    p, src, dst, start, end = segments[0]
    sender = calls[p["cause"]["calls"][0]]
    t0 = sender["t_start_ns"]
    early = dict(sender, t_start_ns=t0 - 10_000_000, t_end_ns=t0 - 9_000_000)
    problems = check_segment(p, src, dst, start, end, {**calls, sender["id"]: early}, syscalls)
    assert problems and all("ran inside none" in x for x in problems), problems
