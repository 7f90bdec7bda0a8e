"""Comparing one analysis output with the public corpus' tshark truth (the corpus, record schema and TCP flag
tests all judge our output against the same truth files, so the comparison lives once).

Each ``check_*`` returns a list of human-readable mismatches; tests assert the list is empty so that a
failure names the capture, the frame and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.analysis.catalogue import tshark_name

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
"""The public corpus: ``pcaps/`` and tshark's ``truth/`` beside the repository (``../shared/corpus``)."""


def corpus_captures() -> list[str]:
    """The corpus' capture file names, sorted; none when the corpus is absent (its tests then skip).
    Read at collection time by the tests that are parametrized by capture."""
    pcaps = CORPUS / "pcaps"
    return sorted(p.name for p in pcaps.iterdir()) if pcaps.is_dir() else []


# Layer names we emit whose tshark counterpart is not a protocol of its own in frame.protocols, or that
# tshark names differently on purpose. Each entry is a documented disagreement.
NOT_COMPARED = {
    # Undissected payload bytes: tshark names them after whatever heuristic dissector it has (x11, mysql,
    # data-text-lines, ...) or folds them into TCP reassembly; we call them Data.
    "Data",
}


def load_truth(corpus: Path, name: str) -> dict[str, Any]:
    """The corpus' tshark truth for capture ``name`` (truth/<name>.json: header and per-frame fields)."""
    return json.loads((corpus / "truth" / f"{name}.json").read_text())


def truth_frames(truth: dict[str, Any]) -> list[dict[str, Any]]:
    """tshark's frames minus the pcapng custom blocks it lists as frames (no interface, no encapsulation)."""
    ng = truth["header"].get("format") == "pcapng"
    return [p for p in truth["packets"]
            if not (ng and p.get("encap_type") is None and p.get("protocols") == "data")]


def check_packets(name: str, recs: list[dict], truth: dict) -> list[str]:
    bad: list[str] = []
    frames = truth_frames(truth)
    if len(recs) != len(frames):
        return [f"{name}: {len(recs)} packets, tshark {len(frames)}"]
    for r, t in zip(recs, frames, strict=True):
        where = f"{name} frame {r['number']}"

        def eq(field: str, ours: Any, theirs: Any, where: str = where) -> None:
            if ours != theirs:
                bad.append(f"{where}: {field} ours={ours!r} tshark={theirs!r}")

        eq("len", r["len"], t["frame_len"])
        eq("caplen", r["caplen"], t["cap_len"])
        ip = r["ip"] or {}
        if t.get("ip_version") and t.get("src") is not None:
            eq("ip.version", ip.get("version"), t["ip_version"])
            eq("src", ip.get("src"), t["src"])
            eq("dst", ip.get("dst"), t["dst"])
        tcp = r["tcp"]
        icmp = r["icmp"] or {}
        quoted = icmp.get("quoted") or {}
        if t.get("tcp.srcport") is not None:
            if tcp is not None:
                eq("tcp.sport", tcp["sport"], t["tcp.srcport"])
                eq("tcp.dport", tcp["dport"], t["tcp.dstport"])
            else:  # an ICMP error quoting a TCP header: tshark's first tcp.srcport is the quoted one
                eq("quoted.sport", quoted.get("sport"), t["tcp.srcport"])
                eq("quoted.dport", quoted.get("dport"), t["tcp.dstport"])
        elif tcp is not None and tcp.get("flags") is not None:
            bad.append(f"{where}: we decoded TCP, tshark did not")
        if t.get("tcp.flags") is not None and tcp is not None:
            eq("tcp.flags", tcp["flags_int"], int(t["tcp.flags"], 16))
            eq("tcp.seq_raw", tcp["seq_raw"], t["tcp.seq_raw"])
            eq("tcp.ack_raw", tcp["ack_raw"], t["tcp.ack_raw"])
            if t.get("tcp.len") is not None:
                eq("tcp.len", tcp["len"], t["tcp.len"])
        udp = r["udp"]
        if t.get("udp.srcport") is not None:
            if udp is not None:
                eq("udp.sport", udp["sport"], t["udp.srcport"])
                eq("udp.dport", udp["dport"], t["udp.dstport"])
                eq("udp.length", udp["length"], t["udp.length"])
            else:
                eq("quoted.sport", quoted.get("sport"), t["udp.srcport"])
        elif udp is not None:
            bad.append(f"{where}: we decoded UDP, tshark did not")
    return bad


def check_protocols(name: str, recs: list[dict], truth: dict) -> list[str]:
    """Every protocol we name for a frame is one tshark names for that frame."""
    bad = []
    for r, t in zip(recs, truth_frames(truth), strict=False):
        theirs = set((t.get("protocols") or "").split(":"))
        for ly in r["layers"]:
            if ly["name"] in NOT_COMPARED:
                continue
            if tshark_name(ly["name"]) not in theirs:
                bad.append(f"{name} frame {r['number']}: we say {ly['name']}, "
                           f"tshark says {t.get('protocols')}")
    return bad


def stream_map(recs: list[dict], truth: dict) -> dict[int, int]:
    """tshark tcp.stream -> our stream id, from the frames both put in a stream."""
    m: dict[int, int] = {}
    for r, t in zip(recs, truth_frames(truth), strict=False):
        if t.get("tcp.stream") is not None and r["tcp"] and r["tcp"]["stream"] is not None:
            m.setdefault(t["tcp.stream"], r["tcp"]["stream"])
    return m


def check_streams(name: str, recs: list[dict], convs: list[dict], truth: dict) -> list[str]:
    """Handshake frames, FIN and RST senders per stream equal the truth's flag-derived summary."""
    bad = []
    ours = {c["stream"]: c for c in convs if c["proto"] == "tcp"}
    smap = stream_map(recs, truth)
    # frame numbers: ours count packets, tshark's count custom blocks too
    frame_of = {t["frame"]: r["number"] for r, t in zip(recs, truth_frames(truth), strict=False)}
    for ts in truth["tcp_streams"]:
        sid = smap.get(ts["stream"])
        where = f"{name} tcp.stream {ts['stream']}"
        if sid is None or sid not in ours:
            bad.append(f"{where}: no matching stream of ours")
            continue
        c = ours[sid]
        for key in ("syn_frame", "syn_ack_frame", "handshake_ack_frame"):
            want = frame_of.get(ts[key]) if ts[key] is not None else None
            if c[key] != want:
                bad.append(f"{where}: {key} ours={c[key]} tshark={want}")
        if c["handshake_complete"] != ts["handshake_complete"]:
            bad.append(f"{where}: handshake_complete ours={c['handshake_complete']}")

        def endpoints(sides: list[str], conv: dict[str, Any], client: Any, server: Any) -> set:
            return {tuple(conv[s].values()) if conv is not None else (client if s == "client" else server)
                    for s in sides}

        t_ep = {"client": (ts["client"]["addr"], ts["client"]["port"]),
                "server": (ts["server"]["addr"], ts["server"]["port"])}
        o_ep = {"client": (c["client"]["addr"], c["client"]["port"]),
                "server": (c["server"]["addr"], c["server"]["port"])}
        for key in ("fin_from", "rst_from"):
            want = {t_ep[s] for s in ts[key]}
            got = {o_ep[s] for s in c[key]}
            if want != got:
                bad.append(f"{where}: {key} ours={sorted(got)} tshark={sorted(want)}")
    return bad
