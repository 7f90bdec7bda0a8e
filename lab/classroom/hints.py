"""Feedback that teaches without giving the key away: the classic mistakes, named from the answer given.

Each rule looks at the question's answer function, the answer the student gave and the key, and says
what kind of mistake it looks like, never the right value. First match wins; the teacher's own words for
a question (``hint``, ``mistakes`` in the lab file) come before these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.classroom.matching import match, numbers_in
from lab.records import PacketRecord

SEQUENCE_ANSWERS = {"syn_seq_raw", "synack_ack_raw", "rst_ack_raw"}
PORT_ANSWERS = {"client_port", "server_port", "udp_port", "reply_port", "first_fin_port", "rst_port"}
LENGTH_ANSWERS = {"udp_length", "mss"}
HEADER_SIZES = {8, 20, 28, 40, 48, 60}  # UDP, IPv4, IPv4+UDP, IPv6 or IPv4+TCP, IPv6+UDP, IPv6+TCP...


def _one_number(given: Any) -> float | None:
    if isinstance(given, int | float) and not isinstance(given, bool):
        return given
    found = numbers_in(given) if isinstance(given, str) else []
    return found[0] if len(set(found)) == 1 else None


@dataclass(frozen=True)
class Facts:
    answer: str  # the question's answer function
    given: Any
    expected: Any
    ports: frozenset[int]  # every TCP/UDP port of the capture

    @property
    def number(self) -> float | None:
        return _one_number(self.given)


@dataclass(frozen=True)
class HintRule:
    name: str
    applies: Callable[[Facts], bool]
    text: str


RULES: tuple[HintRule, ...] = (
    HintRule(
        "relative-sequence-number",
        lambda f: f.answer in SEQUENCE_ANSWERS and f.number in (0, 1),
        "that looks like Wireshark's relative sequence number (it counts from 0 for each connection); the "
        "question asks for the raw number in the TCP header (Wireshark: 'Sequence Number (raw)', or turn "
        "off TCP's 'Relative sequence numbers' preference)",
    ),
    HintRule(
        "other-end-port",
        lambda f: f.answer in PORT_ANSWERS and f.number is not None and int(f.number) in f.ports,
        "that port is in the capture, but on the other end (or another conversation): check whether the "
        "question asks for the client's or the server's side, and read the source or destination port of "
        "the right packet",
    ),
    HintRule(
        "header-lengths",
        lambda f: f.answer in LENGTH_ANSWERS
        and f.number is not None
        and isinstance(f.expected, int)
        and abs(int(f.number) - f.expected) in HEADER_SIZES,
        "check which headers the field counts: the IP Total Length includes the IP header (20 bytes for "
        "IPv4, 40 for IPv6), the UDP Length field includes its own 8-byte header, and the TCP payload and "
        "the MSS count neither IP nor TCP header",
    ),
)


def capture_ports(packets: list[PacketRecord]) -> frozenset[int]:
    """Every TCP and UDP port the capture shows (a wrong answer that is one of them is a port mix-up)."""
    out: set[int] = set()
    for p in packets:
        l4 = p["tcp"] if p["tcp"] is not None else p["udp"]
        if l4 is not None:
            out.update((l4["sport"], l4["dport"]))
    return frozenset(out)


def hints_for(question: Any, given: Any, expected: Any, ports: frozenset[int]) -> list[str]:
    """What to tell a student whose answer to ``question`` was wrong (empty: nothing specific to say)."""
    out = []
    for common, text in getattr(question, "mistakes", ()):
        if given is not None and match(common, given).ok:
            out.append(text)
    facts = Facts(question.answer, given, expected, ports)
    out += [rule.text for rule in RULES if rule.applies(facts)]
    if getattr(question, "hint", ""):
        out.append(question.hint)
    return out
