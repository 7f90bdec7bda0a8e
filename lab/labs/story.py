"""The classic socket story next to what really happened, and where the two differ.

Textbooks tell the socket flow as 12 steps (server: socket, bind, listen, accept, recv, send, close;
client: socket, connect, send, recv, close; numbered once, in ``lab.tracing.steps``) as if each call *did*
one thing on the wire. Every observed call of the flow is tagged with its step. The capture
and the call log say otherwise in places: accept() takes part in no handshake, bind() and listen() send
nothing, the kernel ACKs on its own, one send() may become several segments. ``tell`` lays the classic
story, the observed timeline and those differences (each backed by frame numbers and call ids) side by
side. Differences are found by small detector functions in ``DETECTORS`` (a table, like the checks).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator

from lab.identity import packet_identity
from lab.labs import evidence as ev
from lab.records import CallRecord, PacketRecord
from lab.tracing.calltext import SendWaits, call_text, duration_text
from lab.tracing.steps import STEPS, UDP_STEPS, classic_steps, step_label

Packets = list[PacketRecord]
Calls = list[CallRecord]
CallAndPacket = tuple[CallRecord, PacketRecord | None]

CLASSIC_TCP = tuple((side, call, what) for _n, side, call, what in STEPS)
CLASSIC_UDP = tuple((side, call, what) for _n, side, call, what in UDP_STEPS)

TIMELINE_LIMIT = 80


def tell(
    packets: Packets, calls: Calls, title: str = "", *, counters: dict[str, dict[str, int]] | None = None
) -> str:
    """The story as markdown-ish text: classic flow, observed timeline, differences.

    ``counters`` are what each node's kernel counted during the run (``lab.emulation.counters``): the
    reason for a drop that no packet shows (a full accept queue: ListenOverflows)."""
    tcp = any(p["tcp"] for p in ev.wire(packets))
    classic = CLASSIC_TCP if tcp else CLASSIC_UDP
    lines = [f"# {title or 'Socket flow'}: the classic story and what really happened", ""]
    lines.append(f"## The classic {'12-step TCP client/server' if tcp else 'UDP'} socket flow")
    lines += [f"{i:2d}. {who:<6} {call:<20} {what}" for i, (who, call, what) in enumerate(classic, 1)]
    lines += _steps_seen(calls, tcp)
    lines += ["", "## Observed timeline (socket calls and packets on one clock)"]
    lines += timeline(packets, calls)
    lines += ["", "## Where reality differs from the simple story"]
    notes = [note for detect in DETECTORS for note in detect(packets, calls)]
    notes += dropped_syns(packets, calls, counters if counters is not None else {})
    lines += [f"- {n}" for n in notes] or ["- nothing: this run followed the simple story"]
    return "\n".join(lines) + "\n"


def _steps_seen(calls: Calls, tcp: bool) -> list[str]:
    """Which observed calls did each classic step, in the classic order."""
    steps = classic_steps(calls)
    if not steps:
        return []
    kind = "SOCK_STREAM" if tcp else "SOCK_DGRAM"
    by_step: dict[int, list[str]] = {}
    for c in calls:
        n = steps.get(c["id"])
        if n is not None and c["type"] == kind:
            by_step.setdefault(n, []).append(f"#{c['id']} ({c['node']})")
    out = ["", "Observed calls per step (call ids, in the classic order):"]
    for n, side, call, _what in STEPS if tcp else UDP_STEPS:
        seen = by_step.get(n)
        more = f" +{len(seen) - 6} more" if seen and len(seen) > 6 else ""
        shown = ", ".join(seen[:6]) + more if seen else "(not in this run)"
        out.append(f"{n:2d}. {side:<6} {call:<20} {shown}")
    return out


def timeline(packets: Packets, calls: Calls) -> list[str]:
    """Calls and packets interleaved by time; packets from one capture point so each appears once."""
    t0 = ev.t0_ns(packets)
    wire = ev.wire(packets)
    shown = story_view(packets)
    events: list[tuple[int, str]] = []
    steps = classic_steps(calls)
    waits = SendWaits(packets)
    for c in calls:
        took = (c["t_end_ns"] - c["t_start_ns"]) / 1e6
        step = step_label(c, steps)
        text = f"{call_text(c)}{'  [' + step + ']' if step else ''}"
        waited = waits.waited(c)
        if took >= 1.0 or waited is not None:
            text += f"  ({duration_text(c, waited)})"
        events.append(
            (
                c["t_end_ns"],
                f"t={ev.rel(c['t_end_ns'], t0):>10}  {c['node'] or '?':<4} "
                f"call #{c['id']} {text}",
            )
        )
    for p in shown:
        cause = p["cause"]["text"]
        events.append(
            (
                ev.ts(p),
                f"t={float(p['t'] or 0):>10.6f}  wire frame {p['number']}: "
                f"{p['summary'] or ev.role(p)}{'  <- ' + cause if cause else ''}",
            )
        )
    events.sort(key=lambda e: e[0])
    out = [text for _, text in events[:TIMELINE_LIMIT]]
    if len(events) > TIMELINE_LIMIT:
        out.append(f"... {len(events) - TIMELINE_LIMIT} more events (see ladder.txt)")
    others = len(wire) - len(shown)
    if others and shown:
        where = shown[0]["interface"]
        out.append(f"(packets as captured at {where}; {others} copies at other capture points not shown)")
    return out


# -- detectors: each returns sentences, every one backed by frames and call ids ------------------------
def _first_from(packets: Packets, calls: Calls, name: str, pred: ev.Pred) -> Iterator[CallAndPacket]:
    """For each successful call named ``name`` (accept or connect), in time order, the first packet
    matching ``pred`` sent from that call's end of the connection (None: no such packet): the accepted
    peer for accept(), the socket's own address for connect()."""
    for c in ev.calls_named(calls, name):
        end = ev.accepted_peer(c) if name == "accept" else ev.addr(c["local"])
        if end is None or not ev.succeeded(c):
            continue
        yield c, ev.first(packets, lambda p, end=end: pred(p) and ev.source(p) == end)


def accept_after_handshake(packets: Packets, calls: Calls) -> list[str]:
    t0 = ev.t0_ns(packets)
    notes = []
    for c, ack in _first_from(packets, calls, "accept", lambda p: ev.role(p) == "handshake-ack"):
        syn = handshake_syn(packets, ack) if ack else None
        if syn and ack and ev.ts(ack) < c["t_end_ns"]:
            called = (
                "was already waiting" if c["t_start_ns"] < ev.ts(syn) else "was called later"
            )
            notes.append(
                f"accept() #{c['id']} on {c['node']} took no part in the handshake: "
                f"SYN {ev.frame(syn)} and the final ACK {ev.frame(ack)} were handled by the kernel, "
                f"which queued the finished connection (listen's backlog); accept() {called} and returned at "
                f"t={ev.rel(c['t_end_ns'], t0)} s, only taking it off the queue."
            )
    return notes[:3]


def handshake_syn(packets: Packets, ack: PacketRecord) -> PacketRecord | None:
    """The SYN a completed handshake answered: the one its SYN-ACK answers, on the same capture point —
    not an earlier copy of it that nobody answered (a dropped SYN is no part of the handshake)."""
    by_number = {p["number"]: p for p in packets}
    synack = _answered(ack, by_number)
    if synack is None or not ev.is_synack(synack):
        key, at = ev.conn_key(ack), ev.ts(ack)
        synack = None
        for p in packets:
            if ev.is_synack(p) and ev.conn_key(p) == key and ev.ts(p) <= at:
                synack = p
    if synack is None:
        return None
    syn = _answered(synack, by_number)
    if syn is not None and ev.is_syn(syn):
        return syn
    key, at, where = ev.conn_key(synack), ev.ts(synack), synack["interface"]
    last = None
    for p in packets:  # the latest SYN of that connection before its SYN-ACK that reached the server
        if (ev.is_syn(p) and ev.conn_key(p) == key and ev.ts(p) <= at and p["interface"] == where
                and p.get("lost") is None):  # a copy a lossy link dropped never reached it
            last = p
    return last


def _answered(p: PacketRecord, by_number: dict[int, PacketRecord]) -> PacketRecord | None:
    """The packet that ``p`` answers, as its cause names it (None: it names none, or not a captured one)."""
    n = p["cause"].get("answers")
    return by_number.get(n) if n is not None else None


def dropped_syns(packets: Packets, calls: Calls, counters: dict[str, dict[str, int]]) -> list[str]:
    """A SYN that got no answer while others did: say what the kernel counted, if it counted a drop."""
    notes: list[str] = []
    overflow = {node: c for node, c in counters.items() if c.get("ListenOverflows") or c.get("ListenDrops")}
    repeats = _repeated_syns(packets)
    if not repeats:
        return notes
    if overflow:
        node, c = next(iter(overflow.items()))
        first, again = repeats[0]
        notes.append(
            f"why SYN {ev.frame(first)} got no answer: the listening socket's accept queue was full "
            f"(listen's backlog, with the earlier connections not yet accept()ed), so {node}'s kernel "
            f"dropped the SYN without a word — it counted it: TcpExt ListenOverflows "
            f"+{c.get('ListenOverflows', 0)}, ListenDrops +{c.get('ListenDrops', 0)} in {node}'s namespace "
            f"during the run (nstat, /proc/net/netstat). The retransmitted SYN {ev.frame(again)} came "
            f"when accept() had made room."
        )
    return notes


def _repeated_syns(packets: Packets) -> list[tuple[PacketRecord, PacketRecord]]:
    """(first SYN, a later SYN of the same connection and sequence number), at the story's capture point."""
    first_seen: dict[tuple, PacketRecord] = {}
    out = []
    for p in story_view(packets):
        if not ev.is_syn(p):
            continue
        key = (ev.conn_key(p), ev.tcp_of(p)["seq_raw"])
        if key not in first_seen:
            first_seen[key] = p
        else:
            out.append((first_seen[key], p))
    return out


def unanswered_syns(packets: Packets, calls: Calls) -> list[str]:
    """A SYN sent again: the first one got no answer (dropped by a full accept queue, a firewall, loss)."""
    notes = []
    for first, p in _repeated_syns(packets):
        gap = (ev.ts(p) - ev.ts(first)) / 1e9
        notes.append(
            f"SYN {ev.frame(p)} repeats SYN {ev.frame(first)} (same port and sequence number) {gap:.2f} s "
            f"later: nothing answered the first one, so the client's kernel retransmitted it on its own "
            f"while connect() kept waiting."
        )
    return notes[:3]


def would_block(packets: Packets, calls: Calls) -> list[str]:
    """Non-blocking calls: EAGAIN puts nothing on the wire, EINPROGRESS does (the SYN)."""
    notes = []
    t0 = ev.t0_ns(packets)
    failed = [c for c in calls if ev.raised(c, "BlockingIOError")]
    quiet = [c for c in failed if c["call"] != "connect"]
    if quiet:
        names = ", ".join(sorted({f"{c['call']}()" for c in quiet}))
        notes.append(
            f"{len(quiet)} non-blocking call{'s' if len(quiet) > 1 else ''} ({names}) raised BlockingIOError "
            f"and put nothing on the wire: 'would block' is an answer from the local kernel, not a network "
            f"event."
        )
    for c in failed:
        if c["call"] != "connect":
            continue
        syn = ev.first(packets, lambda p, c=c: ev.is_syn(p) and ev.ends_of(p)[0] == ev.addr(c["local"]))
        if syn:
            notes.append(
                f"connect() #{c['id']} raised BlockingIOError (EINPROGRESS) at "
                f"t={ev.rel(c['t_end_ns'], t0)} s, yet its SYN {ev.frame(syn)} did leave: the handshake "
                f"goes on in the kernel, and select() reports the socket writable when it is done."
            )
    return notes


def udp_no_connection(packets: Packets, calls: Calls) -> list[str]:
    if any(p["tcp"] for p in ev.wire(packets)):
        return []
    n = sum(1 for p in story_view(packets) if p["udp"] is not None)
    closes = [c for c in ev.calls_named(calls, "close") if c["type"] == "SOCK_DGRAM"]
    if not n:
        return []
    return [
        f"{n} UDP datagrams carry the whole exchange: no handshake before the first one, no ACK after any, "
        f"and {len(closes)} close() call{'s' if len(closes) != 1 else ''} sent nothing — there was no "
        f"connection."
    ]


def half_closed(packets: Packets, calls: Calls) -> list[str]:
    """shutdown(SHUT_WR): a FIN that ends one direction only."""
    notes = []
    for c in ev.calls_named(calls, "shutdown"):
        fin = ev.first(packets, lambda p, c=c: "FIN" in ev.tcp_flags(p) and c["id"] in ev.caused_by(p))
        if fin is None:
            continue
        key = ev.conn_key(fin)
        back = ev.first(
            packets,
            lambda p, key=key, fin=fin: (
                ev.conn_key(p) == key
                and ev.ts(p) > ev.ts(fin)
                and ev.payload_len(p) > 0
                and ev.ends_of(p)[0] == ev.ends_of(fin)[1]
            ),
        )
        if back:
            notes.append(
                f"shutdown() #{c['id']} sent FIN {ev.frame(fin)}, yet data still came back in "
                f"{ev.frame(back)}: a FIN closes one direction only (half-close)."
            )
    return notes


def time_wait(packets: Packets, calls: Calls) -> list[str]:
    t0 = ev.t0_ns(packets)
    return [
        f"bind() #{c['id']} at t={ev.rel(c['t_end_ns'], t0)} s failed with EADDRINUSE: the address "
        f"belongs to a connection closed moments before, still in TIME_WAIT (2 x MSL) on the side that sent "
        f"the first FIN; no packet shows it, only the kernel's state."
        for c in ev.calls_named(calls, "bind")
        if ev.errno_name(c) == "EADDRINUSE"
    ][:1]


def hops(packets: Packets, calls: Calls) -> list[str]:
    """One packet seen on several links: what routers change and what they do not."""
    syn = ev.first(packets, ev.is_syn)
    if syn is None:
        return []
    copies = ev.matching(packets, lambda p: packet_identity(p) == packet_identity(syn))
    if len({p["interface"] for p in copies}) < 2:
        return []
    ttls = [ev.ip_of(p)["ttl"] for p in copies]
    macs = len({ev.eth_addrs(p) for p in copies})
    frames = ", ".join(str(p["number"]) for p in copies)
    return [
        f"the one SYN of connect() appears {len(copies)} times (frames {frames}), once per link: "
        f"TTL {' -> '.join(map(str, ttls))}, {macs} different Ethernet headers, but the same IP addresses, "
        f"ports and sequence number — routers rewrite layer 2 and the TTL, not what is above."
    ]


def data_before_accept(packets: Packets, calls: Calls) -> list[str]:
    """The client may send before the server accepts: the kernel ACKs and queues the bytes."""
    for c, data in _first_from(packets, calls, "accept", lambda p: ev.payload_len(p) > 0):
        if data and ev.ts(data) < c["t_end_ns"]:
            return [
                f"the client's data {ev.frame(data)} reached the server before accept() #{c['id']} "
                f"returned: the kernel acknowledged it and kept it in the new connection's receive queue "
                f"until the program asked for it with recv()."
            ]
    return []


def silent_setup(packets: Packets, calls: Calls) -> list[str]:
    setup = [c for name in ("bind", "listen") for c in ev.calls_named(calls, name) if ev.succeeded(c)]
    wire = ev.wire(packets)
    if not setup or not wire:
        return []
    blamed = {i for p in wire for i in ev.caused_by(p)}
    quiet = [c for c in setup if c["id"] not in blamed]
    names = sorted({f"{c['call']}()" for c in quiet})
    if not quiet:
        return []
    return [
        f"{' and '.join(names)} put nothing on the wire ({len(quiet)} call{'s' if len(quiet) > 1 else ''}, "
        f"no packet sent by {'them' if len(quiet) > 1 else 'it'}): "
        f"{'they only change' if len(quiet) > 1 else 'it only changes'} state inside the kernel."
    ]


def connect_before_ack(packets: Packets, calls: Calls) -> list[str]:
    t0 = ev.t0_ns(packets)
    for c, ack in _first_from(packets, calls, "connect", lambda p: ev.role(p) == "handshake-ack"):
        if ack:
            return [
                f"connect() #{c['id']} returned at t={ev.rel(c['t_end_ns'], t0)} s once the SYN-ACK "
                f"arrived; the handshake's third packet, the ACK {ev.frame(ack)}, is sent by the kernel, "
                f"not by any call."
            ]
    return []


def segments_vs_calls(packets: Packets, calls: Calls) -> list[str]:
    """One send() may become several segments; several sends may share one."""
    by_call: Counter[int] = Counter()
    shared = None
    for p in story_view(packets):
        if ev.payload_len(p) > 0 and not ev.is_retransmission(p):
            ids = ev.caused_by(p)
            by_call.update(ids)
            if len(ids) > 1 and shared is None:
                shared = (p, ids)
    notes = []
    names = {c["id"]: c for c in calls}
    split = [(i, n) for i, n in by_call.items() if n > 1 and i in names]
    if split:
        i, n = max(split, key=lambda x: x[1])
        c = names[i]
        notes.append(
            f"{c['call']}() #{i} ({c['nbytes']} bytes) left as {n} segments: TCP is a byte "
            f"stream cut to the MSS, not a message per call."
        )
    if shared:
        notes.append(
            f"{ev.frame(shared[0])} carries bytes of several calls {shared[1]}: call boundaries are "
            f"not preserved on the wire."
        )
    return notes


def kernel_only(packets: Packets, calls: Calls) -> list[str]:
    counts: Counter[str] = Counter()
    view = story_view(packets)
    for p in view:
        if p["cause"]["source"] == "kernel":
            counts[ev.role(p) or "other"] += 1
    if not counts:
        return []
    parts = ", ".join(f"{n} {r}" for r, n in counts.most_common())
    kinds = [what for roles, what in KERNEL_KINDS if any(r in counts for r in roles)]
    if any(ev.is_retransmission(p) and p["cause"]["source"] == "kernel" for p in view):
        kinds.append("retransmissions")
    return [
        f"{sum(counts.values())} packets were sent by the kernel on its own, with no socket call behind "
        f"them ({parts}): {', '.join(kinds) if kinds else 'its own duties'}."
    ]


KERNEL_KINDS = (
    (("ack",), "ACKs"),
    (("syn-ack", "handshake-ack"), "handshake answers"),
    (("rst",), "resets"),
    (("arp-request", "arp-reply", "ndp-ns", "ndp-na"), "address resolution"),
    (("ndp-rs", "ndp-ra"), "router discovery"),
    (("icmp-error",), "ICMP errors"),
    (("icmp-echo-reply",), "echo replies"),
    (("other",), "background traffic (see below)"),
)


KERNEL_OF = re.compile(r"kernel \(([\w.-]+)\)")


def background(packets: Packets, calls: Calls) -> list[str]:
    """Packets nobody's program asked for: a kernel's duties when an interface comes up (MLD, NDP)."""
    wire = ev.wire(packets)
    mld = [p for p in wire if p["cause"]["rule"] == "mld"
           or p["role"]["text"].startswith("MLD")]
    rs = [p for p in wire if ev.role(p) == "ndp-rs"]
    notes = []
    if mld:
        said = (p["cause"]["text"] for p in mld)
        nodes = sorted({m.group(1) for text in said if (m := KERNEL_OF.search(text))})
        notes.append(
            f"{len(mld)} MLD reports (first {ev.frame(mld[0])}) open the capture before any program runs: "
            f"when an interface comes up with IPv6, its kernel ({', '.join(nodes) or '?'}) reports which "
            f"multicast groups it listens to (its solicited-node groups, needed for neighbour discovery) — "
            f"IPv6 requires it (RFC 3810), and no socket call is involved. Background traffic, not the lab's."
        )
    if rs:
        notes.append(
            f"{len(rs)} router solicitations (first {ev.frame(rs[0])}): a kernel whose interface just came "
            f"up asks for IPv6 routers on the link (SLAAC); none answers in a lab with static addresses."
        )
    return notes


def retransmissions(packets: Packets, calls: Calls) -> list[str]:
    found = max((f["resent"] for f in ev.loss_evidence(packets).values()), key=len, default=[])
    if not found:
        return []
    return [
        f"{len(found)} segments carry bytes already sent (first {ev.frame(found[0])}): the kernel "
        f"retransmits unacknowledged data by itself; the program's call returned long before and never "
        f"knows."
    ]


def lost_copies(packets: Packets, calls: Calls) -> list[str]:
    """Copies an emulated lossy link dropped (``lost``): where, by which rule, and what carried the bytes."""
    lost = [p for p in ev.wire(packets) if p.get("lost") is not None]
    if not lost:
        return []
    first = lost[0]
    info = first["lost"]
    data = [p for p in lost if ev.payload_len(p) > 0]
    carried = [p for p in data if p["lost"]["carried_by"] is not None]
    text = (
        f"{len(lost)} packets never reached the next link ({len(data)} of them carried data): they were "
        f"dropped by the emulated {info['rule']}; the first, {ev.frame(first)}, was last seen on "
        f"{info['seen_last_on']}."
    )
    if carried:
        c = carried[0]
        text += (
            f" Its receiver never read such a copy: the bytes of {ev.frame(c)} arrived with the "
            f"retransmission frame {c['lost']['carried_by']}, which the sender's kernel made on its own."
        )
    return [text]


def reset_instead_of_fin(packets: Packets, calls: Calls) -> list[str]:
    rsts = ev.matching(packets, lambda p: "RST" in ev.tcp_flags(p))
    if not rsts:
        return []
    cause = rsts[0]["cause"]["text"] or "the kernel"
    return [
        f"{ev.frame(rsts[0])} is a RST, not the FIN of the classic story ({cause}): an abortive end "
        f"(nobody listening, or close() with unread data)."
    ]


def link_layer(packets: Packets, calls: Calls) -> list[str]:
    arp = ev.matching(packets, lambda p: ev.role(p) in ("arp-request", "arp-reply", "ndp-ns", "ndp-na"))
    if not arp:
        return []
    return [
        f"{len(arp)} ARP/NDP packets (first {ev.frame(arp[0])}) appear in no socket story: the link layer "
        f"resolves the next hop's MAC address before the first IP packet can leave."
    ]


def _first_iface(packets: Packets) -> str | None:
    """The capture point of the client's first packet (its SYN, else its first datagram): the link the
    story is told from. Kernel chatter (MLD) on other links may come earlier."""
    first = ev.first(packets, ev.is_syn) or ev.first(packets, lambda p: bool(p["udp"]))
    if first is None:
        wire = ev.wire(packets)
        first = wire[0] if wire else None
    return first["interface"] if first else None


def story_view(packets: Packets) -> Packets:
    """The packets as captured at the story's capture point (``_first_iface``), in capture order: the
    timeline and the detectors that count packets see each packet once, from the same link."""
    iface = _first_iface(packets)
    return ev.views(packets).get(iface, []) if iface is not None else []


DETECTORS: tuple[Callable[[Packets, Calls], list[str]], ...] = (
    silent_setup,
    udp_no_connection,
    would_block,
    unanswered_syns,
    hops,
    accept_after_handshake,
    data_before_accept,
    half_closed,
    time_wait,
    connect_before_ack,
    segments_vs_calls,
    kernel_only,
    retransmissions,
    lost_copies,
    reset_instead_of_fin,
    link_layer,
    background,
)
