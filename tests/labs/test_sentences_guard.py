"""Every sentence a student reads, cross-checked against the packets it talks about, on every catalogued lab.

The sentences (role texts, cause texts, the story) are written by many rules; a wrong one is worse than a
missing one. These guards read a real run of each lab (shared with the end-to-end test through the
session's ``catalogue_run``) and check the facts each kind of sentence claims:

- "response to frame N", "answers ... frame N", "acknowledges ... frame N" (``cause.answers``): N went the
  other way (its source is this packet's destination) and came before this packet; a retransmission's
  ``answers`` (the frame it repeats) went the same way, before it;
- a data cause's "bytes A-B" is exactly the segment's stream bytes;
- a call that "read"/"received" a packet's bytes consumed them: not a MSG_PEEK, and for TCP its receive
  offsets overlap the segment's bytes; a peek is only ever "peeked by";
- a lost copy (``lost``) is never read by anyone, and its ``carried_by`` frame carries its bytes;
- a handshake the story names ("SYN frame N ... the final ACK frame M") is one connection's, and its SYN is
  the one that was answered (not a copy the listener dropped).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lab.labs.spec import list_labs

pytestmark = pytest.mark.root
LABS = list_labs()
Record = dict[str, Any]


def _load(out: Path) -> tuple[list[Record], dict[int, Record], str]:
    packets = [json.loads(line) for line in (out / "packets.jsonl").read_text().splitlines()]
    calls = {c["id"]: c for c in map(json.loads, (out / "calls.jsonl").read_text().splitlines())}
    return packets, calls, (out / "story.md").read_text()


def _ports(p: Record) -> tuple[Any, Any]:
    l4 = p.get("tcp") or p.get("udp") or {}
    return l4.get("sport"), l4.get("dport")


def _opposite(p: Record, q: Record) -> bool:
    """``p`` goes back the way ``q`` came: p's destination is q's source (ports too, when both have them)."""
    pi, qi = p.get("ip") or {}, q.get("ip") or {}
    if pi and qi and pi.get("dst") != qi.get("src"):
        return False
    (ps, pd), (qs, qd) = _ports(p), _ports(q)
    if None not in (ps, qs) and p.get("icmp") is None and (pd, ps) != (qs, qd):
        return False
    if p.get("arp") and q.get("arp"):
        return p["arp"].get("target_ip") == q["arp"].get("sender_ip")
    return True


def _same_way(p: Record, q: Record) -> bool:
    pi, qi = p.get("ip") or {}, q.get("ip") or {}
    return (pi.get("src"), pi.get("dst"), _ports(p)) == (qi.get("src"), qi.get("dst"), _ports(q))


def _udp_key(p: Record) -> tuple | None:
    ip, udp = p.get("ip") or {}, p.get("udp")
    if not udp:
        return None
    return (p.get("interface"), frozenset({(ip.get("src"), udp["sport"]), (ip.get("dst"), udp["dport"])}))


def check_answers(packets: list[Record]) -> tuple[int, list[str]]:
    by_number = {p["number"]: p for p in packets}
    requester: dict[tuple, tuple] = {}  # a UDP conversation -> who sent its first datagram: who asks
    checked, wrong = 0, []
    for p in packets:
        key = _udp_key(p)
        if key is not None:
            requester.setdefault(key, ((p.get("ip") or {}).get("src"), p["udp"]["sport"]))
        said = re.search(r"response to frame (\d+)", (p.get("role") or {}).get("text", ""))
        if said and key is not None and requester[key] == ((p.get("ip") or {}).get("src"), p["udp"]["sport"]):
            wrong.append(
                f"frame {p['number']} is the asking side's next datagram, not a response to frame "
                f"{said.group(1)}"
            )
        cause = p.get("cause") or {}
        said = re.search(r"response to frame (\d+)", (p.get("role") or {}).get("text", ""))
        targets = {int(said.group(1))} if said else set()
        if cause.get("answers") is not None and cause.get("copy_of") is None:
            targets.add(int(cause["answers"]))
        for n in targets:
            q = by_number.get(n)
            checked += 1
            repeat = "retrans" in str(cause.get("rule", "")) or "again" in str(cause.get("rule", ""))
            if q is None or q["ts_ns"] > p["ts_ns"] or q["number"] >= p["number"]:
                wrong.append(f"frame {p['number']} answers frame {n}, which is not an earlier packet")
            elif repeat and not _same_way(p, q):
                wrong.append(f"frame {p['number']} repeats frame {n}, which went another way")
            elif not repeat and not _opposite(p, q):
                wrong.append(
                    f"frame {p['number']} ({cause.get('text')}) answers frame {n}, which went the same way"
                )
    return checked, wrong


def check_data_bytes(packets: list[Record]) -> tuple[int, list[str]]:
    checked, wrong = 0, []
    for p in packets:
        tcp, cause = p.get("tcp"), p.get("cause") or {}
        if not tcp or not tcp.get("len") or cause.get("rule") not in ("tcp-data-offset", "tcp-retransmit"):
            continue
        start = tcp["seq"] - 1  # the relative sequence number counts the SYN
        span = f"bytes {start}-{start + tcp['len'] - 1}"
        checked += 1
        if span not in cause.get("text", ""):
            wrong.append(f"frame {p['number']} carries {span}, its cause says: {cause.get('text')}")
    return checked, wrong


def check_readers(packets: list[Record], calls: dict[int, Record]) -> tuple[int, list[str]]:
    checked, wrong = 0, []
    for p in packets:
        cause = p.get("cause") or {}
        for i in cause.get("consumed_by") or []:
            call = calls[i]
            checked += 1
            if "MSG_PEEK" in str((call.get("args") or {}).get("flags") or ""):
                wrong.append(
                    f"frame {p['number']}: 'read by' {call['call']}() #{i}, a MSG_PEEK that consumed nothing"
                )
            tcp = p.get("tcp")
            if tcp and tcp.get("len"):
                start = tcp["seq"] - 1
                end = start + tcp["len"]
                if not (call.get("recv_before", 0) < end and call.get("recv_after", 0) > start):
                    wrong.append(
                        f"frame {p['number']} (bytes {start}-{end - 1}) 'read by' call #{i}, which "
                        f"read bytes {call.get('recv_before')}-{(call.get('recv_after') or 0) - 1}"
                    )
        for i in cause.get("peeked_by") or []:
            checked += 1
            if "MSG_PEEK" not in str((calls[i].get("args") or {}).get("flags") or ""):
                wrong.append(f"frame {p['number']}: 'peeked by' call #{i}, which is no MSG_PEEK")
    return checked, wrong


def check_lost(packets: list[Record]) -> tuple[int, list[str]]:
    by_number = {p["number"]: p for p in packets}
    checked, wrong = 0, []
    for p in packets:
        lost = p.get("lost")
        if not lost:
            continue
        checked += 1
        text = (p.get("cause") or {}).get("text", "")
        if (p.get("cause") or {}).get("consumed_by") or "read by" in text or "received by" in text:
            wrong.append(f"lost frame {p['number']} is said to be read: {text}")
        if lost.get("carried_by") is not None:
            q = by_number[lost["carried_by"]]
            a, b = q.get("tcp") or {}, p.get("tcp") or {}
            if q["number"] <= p["number"] or not _same_way(p, q) or a.get("seq", 0) > b.get("seq", 0):
                wrong.append(
                    f"lost frame {p['number']}: carried_by frame {q['number']} does not carry its bytes"
                )
    return checked, wrong


HANDSHAKE = re.compile(r"SYN frame (\d+) .*? and the final ACK frame (\d+)")


def check_story_handshakes(packets: list[Record], story: str) -> tuple[int, list[str]]:
    by_number = {p["number"]: p for p in packets}
    checked, wrong = 0, []
    for syn_n, ack_n in HANDSHAKE.findall(story):
        syn, ack = by_number[int(syn_n)], by_number[int(ack_n)]
        checked += 1
        if not _same_way(syn, ack):
            wrong.append(f"story: SYN frame {syn_n} and ACK frame {ack_n} are not one connection")
            continue
        want_ack = (syn["tcp"]["seq_raw"] + 1) % 2**32
        synacks = [
            p
            for p in packets
            if p.get("tcp")
            and p["tcp"].get("flags") == "SYN,ACK"
            and _opposite(p, syn)
            and p.get("interface") == syn.get("interface")
            and p["number"] < ack["number"]
            and p["tcp"]["ack_raw"] == want_ack
        ]
        answered = [
            p
            for p in packets
            if p.get("tcp")
            and p["tcp"].get("flags") == "SYN"
            and _same_way(p, syn)
            and p.get("interface") == syn.get("interface")
            and synacks
            and p["number"] < synacks[0]["number"]
        ]
        if not synacks or answered[-1]["number"] != syn["number"] or syn.get("lost"):
            wrong.append(
                f"story names SYN frame {syn_n} in a handshake, but the SYN that was answered is "
                f"{answered[-1]['number'] if answered else 'none'}"
            )
    return checked, wrong


@pytest.mark.parametrize("spec", LABS, ids=[lab.name for lab in LABS])
def test_every_sentence_matches_the_packets(spec, catalogue_run) -> None:  # noqa: ANN001
    packets, calls, story = _load(catalogue_run(spec.name).out)
    assert packets, "the run captured packets"
    results = {
        "answers": check_answers(packets),
        "data bytes": check_data_bytes(packets),
        "readers": check_readers(packets, calls),
        "lost": check_lost(packets),
        "story handshakes": check_story_handshakes(packets, story),
    }
    wrong = [f"{kind}: {w}" for kind, (_n, ws) in results.items() for w in ws]
    assert not wrong, "\n".join(wrong[:30])
    checked = sum(n for n, _ws in results.values())
    if not checked and not any((p.get("cause") or {}).get("source") == "call" for p in packets):
        # the ppp lab's serial line is a file of its own (link.pcapng), not one of the run's links
        pytest.skip("no program sends on this lab's links: only kernel background, no sentence to check")
    assert checked > 0, "no sentence of this lab was checked"


def test_the_guards_catch_the_sentences_that_were_wrong() -> None:
    """The guards themselves: each catches the error it is for (records shaped like the old, wrong runs)."""

    def udp(n: int, src: str, dst: str, text: str = "") -> Record:
        sport, dport = (40000, 5013) if src.endswith(".1") else (5013, 40000)
        return {
            "number": n,
            "ts_ns": n,
            "interface": "h1-eth0",
            "ip": {"src": src, "dst": dst},
            "udp": {"sport": sport, "dport": dport},
            "role": {"code": "udp", "text": text},
            "cause": {},
        }

    a, b = "198.18.0.1", "198.18.0.2"
    old_udp_echo = [
        udp(9, a, b),
        udp(10, b, a, "(response to frame 9)"),
        udp(11, a, b, "(response to frame 10)"),
    ]
    (complaint,) = check_answers(old_udp_echo)[1]  # the client's second request was called a response
    assert complaint.startswith("frame 11 is the asking side's next datagram")
    peek = {1: {"call": "recvfrom", "args": {"flags": "MSG_PEEK"}}}
    assert check_readers([{"number": 5, "cause": {"consumed_by": [1]}}], peek)[1]
    lost = [
        {"number": 27, "lost": {"carried_by": None}, "cause": {"text": "h1 send() #9; read by h2 recv() #11"}}
    ]
    assert check_lost(lost)[1]
