"""The key from the raw evidence only, and whether the capture and the call logs tell the same story.

A run directory holds derived files a student can edit (packets.jsonl, calls.jsonl, report.json). Grading
reads none of them: it merges the per-process call logs (``traces/``) and re-analyzes ``capture.pcapng``
itself, with the runner's own code path (``lab.explain.analyze_evidence``), into a directory of its own.

The two sources are then held against each other: every byte a traced socket call says it sent on a
connection must be on the wire of that connection, and every byte on the wire of a traced socket must
have been sent by a call. Editing the capture without the call logs (or the reverse) shows up here.
"""

from __future__ import annotations

import ipaddress
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lab.classroom.manifest import Manifest
from lab.errors import LabError, UsageError
from lab.labs import evidence as ev
from lab.paths import RunPaths
from lab.records import CallRecord, PacketRecord

Packets = list[PacketRecord]
Calls = list[CallRecord]
Endpoint = tuple[str, int]
TCP_SENDS = {"send", "sendall", "sendto", "sendmsg", "write", "writev", "makefile-write", "sendfile"}
UDP_SENDS = {"send", "sendto", "sendmsg", "sendmmsg", "write", "writev"}


def reanalyze(root: Path, manifest: Manifest) -> tuple[Packets, Calls, list[str]]:
    """(packets, calls, analysis errors) of the run in ``root``, from its capture and call logs only."""
    from lab.analysis.attribution.loss import LossRule
    from lab.explain import analyze_evidence

    capture, traces = RunPaths(root).capture, RunPaths(root).traces_dir
    if not capture.is_file():
        raise UsageError(f"{root}: no capture.pcapng (the raw evidence grading reads)")
    if not traces.is_dir():
        raise UsageError(f"{root}: no traces/ directory (the call logs grading reads)")
    with tempfile.TemporaryDirectory(prefix="lab-grade-") as tmp:
        try:
            result, packets, calls = analyze_evidence(
                capture, traces, Path(tmp), manifest.nodes, manifest.capture_points,
                [LossRule(r["a"], r["b"], r["rule"]) for r in manifest.loss_rules],
            )
        except LabError as err:
            raise UsageError(f"{root}: its evidence cannot be analyzed: {err}") from None
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, OSError) as err:
            # hostile input (a bundle's manifest or call logs) that the analysis does not name itself
            raise UsageError(
                f"{root}: its evidence cannot be analyzed: malformed manifest or call log "
                f"({type(err).__name__}: {str(err)[:200]})"
            ) from None
    # the records the analysis has just written (the writers are validated against the schema by the tests)
    return cast(Packets, packets), cast(Calls, calls), list(result.errors)


def _ep(value: Any) -> Endpoint | None:
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None
    try:
        return str(ipaddress.ip_address(str(value[0]).split("%")[0])), int(value[1])
    except (ValueError, TypeError):
        return None


def _sent_bytes(c: CallRecord) -> int:
    ret = c["ret"]
    if isinstance(ret, int) and not isinstance(ret, bool) and ret >= 0:
        return ret
    n = c["nbytes"]
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 and ret is None else 0


def _peer_of(c: CallRecord) -> Endpoint | None:
    """Where a send call sent to: its connected socket's peer, else its datagram's destination."""
    if c["peer"]:
        return _ep(c["peer"])
    dgram = c["dgram"]
    return _ep(dgram["peer"]) if dgram is not None else None


def call_bytes(calls: Iterable[CallRecord]) -> dict[tuple[str, Endpoint, Endpoint], int]:
    """Bytes each traced socket sent, per (proto, local, peer), as its successful send calls report them."""
    out: dict[tuple[str, Endpoint, Endpoint], int] = defaultdict(int)
    for c in calls:
        if c["error"] or c["exception"]:
            continue
        stream = c["type"] == "SOCK_STREAM"
        names = TCP_SENDS if stream else UDP_SENDS
        if c["call"] not in names:
            continue
        local = _ep(c["local"])
        peer = _peer_of(c)
        if local and peer:
            out[("tcp" if stream else "udp", local, peer)] += _sent_bytes(c)
    return dict(out)


def wire_bytes(packets: Packets) -> dict[tuple[str, Endpoint, Endpoint], int]:
    """Payload bytes per direction of each TCP connection and UDP flow, at the capture point seeing most.

    TCP counts the span of sequence numbers carried (retransmissions and copies count once); UDP sums
    the payload of each datagram (its Length field less the 8-byte header), fragments counted once.
    """
    best: dict[tuple[str, Endpoint, Endpoint], int] = {}
    for view in ev.views(packets).values():
        tcp_span: dict[tuple, list[int]] = {}
        datagrams: dict[tuple, int] = defaultdict(int)
        for p in view:
            ends = ev.endpoints(p)
            if ends is None:
                continue
            src, dst = (_ep(e) for e in ends)
            if src is None or dst is None:
                continue
            t, udp = ev.tcp(p), p["udp"]
            if t is not None:
                seq, n = int(t["seq_raw"] or 0), int(t["len"] or 0)
                span = tcp_span.setdefault(("tcp", src, dst), [-1, -1])
                if "SYN" in ev.tcp_flags(p):
                    span[0] = seq + 1
                elif n:
                    span[0] = seq if span[0] < 0 else span[0]
                    span[1] = max(span[1], seq + n)
            elif udp is not None:
                datagrams[("udp", src, dst)] += max(0, udp["length"] - 8)
        counts = {k: (end - start) % (1 << 32) if end >= 0 else 0 for k, (start, end) in tcp_span.items()}
        counts.update(datagrams)
        for k, n in counts.items():
            best[k] = max(best.get(k, 0), n)
    return best


def inconsistencies(packets: Packets, calls: Calls) -> list[str]:
    """Each traced socket whose calls and the wire disagree on how many bytes it sent, as one line."""
    said, seen = call_bytes(calls), wire_bytes(packets)
    traced = {(k[1], k[2]) for k in said} | {
        (local, peer)
        for c in calls
        if (local := _ep(c["local"])) and (peer := _ep(c["peer"]))
    }
    out = []
    for k in sorted(set(said) | set(seen), key=str):
        proto, src, dst = k
        if k not in seen and not any(key[1:] == (dst, src) or key[1:] == (src, dst) for key in seen):
            continue  # never on this capture (a loopback address the capture does not see)
        if (src, dst) not in traced:
            continue  # an untraced program's traffic: nothing to hold it against
        a, b = said.get(k, 0), seen.get(k, 0)
        if a != b:
            out.append(
                f"{proto} {src[0]}:{src[1]} -> {dst[0]}:{dst[1]}: the call logs say {a} bytes were sent, "
                f"the capture carries {b}"
            )
    return out
