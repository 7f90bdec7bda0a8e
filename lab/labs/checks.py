"""Expected observations: small functions over a run's packets and calls, each returning (ok, detail).

A lab file names a check and gives its parameters (``{check: role_count, role: syn, count: 1}``); the
check returns whether the evidence agrees and a one-line detail that points at the evidence (frame
numbers, call ids, times), so that a failing lab says *what* was seen instead of just "failed".
Every check can fail: each states something the capture could contradict.

Signature of a check: ``fn(packets, calls, **params) -> (bool, str)``; ``CHECKS`` maps names to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from lab.identity import packet_identity
from lab.labs import evidence as ev
from lab.labs.routingchecks import ROUTING_CHECKS
from lab.records import CallRecord, PacketRecord

Result = tuple[bool, str]
Packets = list[PacketRecord]
Calls = list[CallRecord]


def _bounds(n: int, count: int | None, min: int | None, max: int | None) -> bool:
    if count is not None and n != count:
        return False
    if min is not None and n < min:
        return False
    return not (max is not None and n > max)


def _words(*parts: str | None) -> str:
    """The parts that say something, joined by spaces (None and empty ones left out)."""
    return " ".join(part for part in parts if part)


def _want(count: int | None, min: int | None, max: int | None) -> str:
    if count is not None:
        return f"exactly {count}"
    parts = [f">= {min}" if min is not None else "", f"<= {max}" if max is not None else ""]
    return " and ".join(p for p in parts if p) or "any number"


# -- counting ----------------------------------------------------------------------------------------
def role_count(
    packets: Packets,
    calls: Calls,
    role: str | None = None,
    count: int | None = None,
    min: int | None = None,
    max: int | None = None,
    analysis: str | list[str] | None = None,
    app: str | None = None,
    port: int | None = None,
) -> Result:
    """Packets of a role (and/or with an analysis flag, application, port), counted at one capture point."""
    pred = ev.packet_filter(role=role, analysis=analysis, app=app, port=port)
    n, where = ev.max_count(packets, pred)
    what = _words(
        role or "packets", f"[{analysis}]" if analysis else None, app, f"port {port}" if port else None
    )
    ok = _bounds(n, count, min, max)
    examples = ", ".join(str(p["number"]) for p in ev.matching(packets, pred)[:6])
    return (
        ok,
        f"{n} {what} at {where} (expected {_want(count, min, max)}){'; frames ' + examples if n else ''}",
    )


def no_protocol(packets: Packets, calls: Calls, proto: str) -> Result:
    """No packet carries this layer at all (e.g. no TCP in a UDP lab: no handshake, no teardown)."""
    found = ev.matching(packets, lambda p: bool(p.get(proto)))
    if found:
        return False, f"{len(found)} {proto.upper()} packets, first {ev.frame(found[0])}"
    total = len(ev.wire(packets))
    return total > 0, f"no {proto.upper()} packet among {total} captured"


def call_result(
    packets: Packets,
    calls: Calls,
    call: str,
    exception: str | None = None,
    error: str | None = None,
    ret: Any = None,
    ok: bool | None = None,
    node: str | None = None,
    min: int = 1,
    count: int | None = None,
    exact: bool = False,
) -> Result:
    """At least ``min`` (or exactly ``count``) calls named ``call`` with the given outcome.

    ``exception`` matches the exception name, ``error`` the errno name (also connect_ex's return value),
    ``ret`` the return value, ``ok: true`` a call that neither failed nor raised. ``exact: true`` matches
    only that name (``send`` without sendto/write...).
    """
    found = []
    for c in ev.calls_named(calls, call, node=node, exact=exact):
        if exception is not None and not ev.raised(c, exception):
            continue
        if error is not None and ev.errno_name(c) != error:
            continue
        if ret is not None and c["ret"] != ret:
            continue
        if ok is not None and ev.succeeded(c) != ok:
            continue
        found.append(c)
    outcome = (
        _words(exception, error, f"ret={ret}" if ret is not None else None, "ok" if ok else None)
        or "any outcome"
    )
    good = _bounds(len(found), count, min if count is None else None, None)
    ids = ", ".join(f"#{c['id']}" for c in found[:6])
    return (
        good,
        f"{len(found)} {call}() calls with {outcome} (expected {_want(count, min, None)})"
        + (f": {ids}" if ids else ""),
    )


# -- the socket flow ---------------------------------------------------------------------------------
def handshake_before_accept(packets: Packets, calls: Calls) -> Result:
    """Every accepted connection's handshake completed (final ACK on the wire) before accept() returned."""
    t0 = ev.t0_ns(packets)
    accepts = [c for c in ev.calls_named(calls, "accept") if ev.succeeded(c)]
    if not accepts:
        return False, "no successful accept() call recorded"
    details = []
    for c in accepts:
        peer = ev.accepted_peer(c)
        if peer is None:
            return False, f"accept() #{c['id']} has no peer address in its return value"
        acks = ev.matching(
            packets,
            lambda p, peer=peer: (
                ev.role(p) == "handshake-ack" and ev.source(p) == peer
            ),
        )
        if not acks:
            return False, f"no handshake ACK from {peer[0]}:{peer[1]} for accept() #{c['id']}"
        ack = acks[0]
        if ev.ts(ack) >= c["t_end_ns"]:
            return False, (
                f"handshake ACK {ev.frame(ack)} came after accept() #{c['id']} returned at "
                f"t={ev.rel(c['t_end_ns'], t0)} s"
            )
        details.append(
            f"handshake ACK {ev.frame(ack)} before accept() #{c['id']} returned at "
            f"t={ev.rel(c['t_end_ns'], t0)} s"
        )
    return True, "; ".join(details)


def connects_before_accept(packets: Packets, calls: Calls, min: int = 1) -> Result:
    """Clients whose connect() returned before the server's first accept() did: the kernel's queue."""
    t0 = ev.t0_ns(packets)
    accepts = [c for c in ev.calls_named(calls, "accept") if ev.succeeded(c)]
    if not accepts:
        return False, "no successful accept() call recorded"
    first_accept = min_t = accepts[0]["t_end_ns"]
    early = [
        c
        for c in ev.calls_named(calls, "connect")
        if ev.succeeded(c)
        and (c["call"] != "connect_ex" or c["ret"] == 0)
        and c["t_end_ns"] < first_accept
    ]
    ok = len(early) >= min
    ids = ", ".join(f"#{c['id']} at t={ev.rel(c['t_end_ns'], t0)} s" for c in early)
    return ok, (
        f"{len(early)} connect() calls returned before the first accept() returned at "
        f"t={ev.rel(min_t, t0)} s (expected >= {min}){': ' + ids if ids else ''}"
    )


def silent_calls(
    packets: Packets, calls: Calls, names: list[str], exception: str | None = None, window_ms: float = 1.0
) -> Result:
    """These calls put nothing on the wire: no packet is sent by them (cause source "call") and none
    leaves their node while they run (plus ``window_ms``). ``names`` lists them (e.g. [bind, listen]).
    A kernel packet that merely names the call (the SYN-ACK sent for the socket listen() prepared) is
    not the call's doing."""
    chosen = [
        c
        for name in names
        for c in ev.calls_named(calls, name)
        if exception is None or ev.raised(c, exception)
    ]
    if not chosen:
        return False, f"no {'/'.join(names)} calls{' raising ' + exception if exception else ''} recorded"
    ids = {int(c["id"]) for c in chosen if c["id"] is not None}
    blamed = [p for p in ev.wire(packets) if set(ev.caused_by(p)) & ids]
    if blamed:
        return (
            False,
            f"{ev.frame(blamed[0])} is attributed to call(s) {sorted(set(ev.caused_by(blamed[0])) & ids)}",
        )
    node_ips = _node_ips(calls)
    for c in chosen:
        start, end = c["t_start_ns"], c["t_end_ns"] + int(window_ms * 1e6)
        ips = node_ips.get(c["node"], set())
        during = [
            p for p in ev.wire(packets) if start <= ev.ts(p) <= end and ev.ip_addr(p, "src") in ips
        ]
        if during:
            return (
                False,
                f"{ev.frame(during[0])} left {c['node']} during {c['call']}() #{c['id']}",
            )
    return True, f"{len(chosen)} {'/'.join(names)} calls, no packet attributed to them or sent during them"


def _node_ips(calls: Calls) -> dict[str | None, set[str]]:
    out: dict[str | None, set[str]] = defaultdict(set)
    for c in calls:
        local = ev.addr(c["local"])
        if local and local[0] not in ("0.0.0.0", "::"):
            out[c["node"]].add(local[0])
    return out


def fin_each_direction(packets: Packets, calls: Calls, min_connections: int = 1) -> Result:
    """Connections closed with a FIN in each direction (the four-way teardown, maybe with FIN+ACK merged)."""
    fins: dict[tuple, set] = defaultdict(set)
    for p in ev.matching(packets, lambda p: "FIN" in ev.tcp_flags(p)):
        ends, key = ev.endpoints(p), ev.conn_key(p)
        if ends is not None and key is not None:
            fins[key].add(ends[0])
    both = [k for k, senders in fins.items() if len(senders) == 2]
    ok = len(both) >= min_connections
    return ok, f"{len(both)} connections with a FIN from each side (expected >= {min_connections})"


def half_close(packets: Packets, calls: Calls) -> Result:
    """After the client's FIN (shutdown SHUT_WR), the server still sent data on the same connection."""
    for fin in ev.matching(
        packets, lambda p: "FIN" in ev.tcp_flags(p) and bool(ev.from_client(p))
    ):
        key, t_fin = ev.conn_key(fin), ev.ts(fin)
        later = ev.first(
            packets,
            lambda p, key=key, t_fin=t_fin: (
                ev.conn_key(p) == key
                and ev.ts(p) > t_fin
                and ev.payload_len(p) > 0
                and not ev.from_client(p)
            ),
        )
        if later:
            return (
                True,
                f"client FIN {ev.frame(fin)}, then server data {ev.frame(later)} on the same connection",
            )
    return False, "no server data after a client FIN"


def rst_answers_syn(packets: Packets, calls: Calls, port: int) -> Result:
    """A SYN to ``port`` answered by a RST whose ACK acknowledges the SYN (seq + 1): nobody listens."""
    syn = ev.first(packets, lambda p: ev.is_syn(p) and ev.tcp_port(p, "dport") == port)
    if syn is None:
        return False, f"no SYN to port {port}"
    seq = ev.tcp_of(syn)["seq_raw"]
    if seq is None:
        return False, f"SYN {ev.frame(syn)} has no sequence number (its TCP header was cut short)"
    rst = ev.first(
        packets,
        lambda p: (
            "RST" in ev.tcp_flags(p) and ev.tcp_port(p, "sport") == port and ev.ts(p) >= ev.ts(syn)
        ),
    )
    if rst is None:
        return False, f"SYN {ev.frame(syn)} to port {port} got no RST"
    ack = ev.tcp_of(rst)["ack_raw"]
    if ack != (seq + 1) % 2**32:
        return False, f"RST {ev.frame(rst)} acknowledges {ack}, not the SYN's seq+1 = {seq + 1}"
    return True, f"SYN {ev.frame(syn)} seq={seq} answered by RST {ev.frame(rst)} ack={ack}"


def syn_backoff(packets: Packets, calls: Calls, port: int, min_syns: int = 3) -> Result:
    """SYNs to ``port`` retransmitted at growing intervals and never answered (they are being dropped)."""
    syns = ev.matching(packets, lambda p: ev.is_syn(p) and ev.tcp_port(p, "dport") == port)
    by_view = ev.views(syns)
    if not by_view:
        return False, f"no SYN to port {port}"
    group = max(by_view.values(), key=len)
    answers = ev.matching(packets, lambda p: ev.tcp_port(p, "sport") == port)
    if answers:
        return False, f"port {port} answered: {ev.frame(answers[0])}"
    times = [ev.ts(p) / 1e9 for p in group]
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    growing = all(b > a * 1.5 for a, b in zip(gaps, gaps[1:], strict=False))
    ok = len(group) >= min_syns and growing
    return (
        ok,
        f"{len(group)} unanswered SYNs to port {port}, intervals {gaps} s (expected >= {min_syns}, growing)",
    )


def quiet_during(packets: Packets, calls: Calls, call: str, exception: str) -> Result:
    """While a call that ended with ``exception`` waited, nothing arrived on its connection."""
    chosen = [c for c in ev.calls_named(calls, call) if ev.raised(c, exception)]
    if not chosen:
        return False, f"no {call}() raising {exception} recorded"
    t0 = ev.t0_ns(packets)
    for c in chosen:
        local, peer = ev.addr(c["local"]), ev.addr(c["peer"])
        start, end = c["t_start_ns"], c["t_end_ns"]
        noisy = ev.first(
            packets,
            lambda p, local=local, peer=peer, start=start, end=end: (
                start <= ev.ts(p) <= end and ev.endpoints(p) in ((peer, local), (local, peer))
            ),
        )
        if noisy:
            return False, f"{ev.frame(noisy)} on the connection during {call}() #{c['id']}"
    c = chosen[0]
    waited = (c["t_end_ns"] - c["t_start_ns"]) / 1e9
    return True, (
        f"{call}() #{c['id']} waited {waited:.3f} s (until t={ev.rel(c['t_end_ns'], t0)} s) "
        f"and raised {exception}; no packet on its connection meanwhile"
    )


def send_partial(packets: Packets, calls: Calls) -> Result:
    """A send() accepted only part of its buffer: it returned fewer bytes than it was given."""
    for c in ev.calls_named(calls, "send", exact=True):
        asked = c["args"].get("nbytes")
        got = c["ret"]
        if isinstance(asked, int) and isinstance(got, int) and 0 < got < asked:
            return True, f"send() #{c['id']} was given {asked} bytes and returned {got}"
    return False, "no send() returned a partial count"


def segments_within_mss(packets: Packets, calls: Calls, min_segments: int = 1) -> Result:
    """No data segment is larger than the MSS its receiver announced in its SYN or SYN-ACK."""
    mss: dict[tuple[str, int], int] = {}
    for p in ev.matching(packets, lambda p: "SYN" in ev.tcp_flags(p)):
        announced = ev.tcp_mss(p)
        if announced:
            mss[ev.ends_of(p)[0]] = announced
    data = ev.matching(packets, lambda p: ev.payload_len(p) > 0)
    if len(data) < min_segments:
        return False, f"{len(data)} data segments (expected >= {min_segments})"
    biggest = 0
    for p in data:
        limit = mss.get(ev.ends_of(p)[1])
        if limit is None:
            return False, f"{ev.frame(p)}: its receiver announced no MSS in the capture"
        if ev.payload_len(p) > limit:
            return False, f"{ev.frame(p)} carries {ev.payload_len(p)} bytes > MSS {limit} (offloads on?)"
        biggest = max(biggest, ev.payload_len(p))
    return (
        True,
        f"{len(data)} data segments, the largest {biggest} bytes, "
        f"all within the MSS {sorted(set(mss.values()))}",
    )


def mss_announced(packets: Packets, calls: Calls, role: str, mss: int) -> Result:
    """The SYN (role syn) or SYN-ACK (role syn-ack) announces this MSS: the sender's MTU minus 40."""
    p = ev.first(packets, lambda p: ev.role(p) == role)
    if p is None:
        return False, f"no {role} packet"
    got = ev.tcp_mss(p)
    return got == mss, f"{role} {ev.frame(p)} announces MSS {got} (expected {mss})"


def tcp_loss(packets: Packets, calls: Calls, kind: str, min: int = 1) -> Result:
    """Evidence of loss at some capture point, from sequence numbers alone: ``gap`` (a segment beyond
    the highest byte seen: something before it was lost), ``resent`` (bytes sent again) or ``dup_ack``
    (the same acknowledgment repeated: the receiver still misses the next byte)."""
    if kind not in ("gap", "resent", "dup_ack"):
        raise ValueError(f"kind must be gap, resent or dup_ack, not {kind!r}")
    per_point = {iface: found[kind] for iface, found in ev.loss_evidence(packets).items()}
    if not per_point:
        return False, "no packets"
    iface, hits = max(per_point.items(), key=lambda kv: len(kv[1]))
    frames = ", ".join(str(p["number"]) for p in hits[:6])
    return len(
        hits
    ) >= min, f"{len(hits)} {kind} at {iface} (expected >= {min}){'; frames ' + frames if hits else ''}"


def payload_matches_calls(packets: Packets, calls: Calls) -> Result:
    """Every byte the programs sent reached the wire exactly once in sequence space (retransmissions aside).

    Per TCP socket: the highest ``sent_after`` offset in its calls equals the distinct payload bytes seen
    from its local address to its peer.
    """
    sent: dict[tuple, int] = {}
    for c in calls:
        local, peer = ev.addr(c["local"]), ev.addr(c["peer"])
        if (
            c["type"] != "SOCK_STREAM"
            or not local
            or not peer
            or not isinstance(c["sent_after"], int)
        ):
            continue
        sent[(local, peer)] = max(sent.get((local, peer), 0), c["sent_after"])
    sent = {k: v for k, v in sent.items() if v > 0}
    if not sent:
        return False, "no TCP socket sent any byte according to the calls"
    for (local, peer), n in sent.items():
        ranges = set()
        for p in ev.matching(packets, lambda p, local=local, peer=peer: ev.endpoints(p) == (local, peer)):
            if ev.payload_len(p) > 0:
                seq = int(ev.tcp_of(p)["seq"] or 0)
                ranges.add((seq, seq + ev.payload_len(p)))
        wire_bytes = _union(ranges)
        if wire_bytes != n:
            return (
                False,
                f"{local[0]}:{local[1]} -> {peer[0]}:{peer[1]}: "
                f"calls sent {n} bytes, wire carried {wire_bytes}",
            )
    return True, f"{len(sent)} sending sockets; bytes sent by calls equal the bytes on the wire for each"


def _union(ranges: set[tuple[int, int]]) -> int:
    total, end = 0, None
    for a, b in sorted(ranges):
        if end is None or a >= end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def datagram_per_call(packets: Packets, calls: Calls, node: str | None = None) -> Result:
    """Each sendto() put exactly one UDP datagram on the wire, of the call's length (UDP Length = n + 8)."""
    sends = [
        c
        for c in ev.calls_named(calls, "send", node=node)
        if c["type"] == "SOCK_DGRAM" and ev.succeeded(c)
    ]
    if not sends:
        return False, "no successful UDP send calls recorded"
    for c in sends:
        local = ev.addr(c["local"])
        dgram = c["dgram"]
        peer = (ev.addr(dgram["peer"]) if dgram is not None else None) or ev.addr(c["peer"])
        n = c["nbytes"]
        if n is None and dgram is not None:
            n = dgram["len"]
        found, where = ev.max_count(
            packets,
            lambda p, local=local, peer=peer, n=n, c=c: (
                _same_source(ev.endpoints(p), local, peer)
                and p["udp"] is not None
                and p["udp"]["length"] == n + 8
                and ev.ts(p) >= c["t_start_ns"]
            ),
        )
        if found < 1:
            return False, f"{c['call']}() #{c['id']} of {n} bytes to {peer}: no matching datagram"
    return True, f"{len(sends)} UDP send calls, each matched by a datagram of its length (+8 byte UDP header)"


def _same_source(ends: tuple | None, local: tuple | None, peer: tuple | None) -> bool:
    """Packet endpoints match a socket's local/peer; a wildcard local address (0.0.0.0) matches any."""
    if ends is None or local is None or peer is None:
        return False
    (src, sport), dst = ends
    return dst == peer and sport == local[1] and (local[0] in ("0.0.0.0", "::") or src == local[0])


def ephemeral_port(packets: Packets, calls: Calls, low: int = 32768, high: int = 60999) -> Result:
    """getsockname() on each client socket names the source port of its SYN; unbound ones are ephemeral."""
    clients = {c["sock"] for c in ev.calls_named(calls, "connect")}
    names = [c for c in ev.calls_named(calls, "getsockname") if ev.succeeded(c) and c["sock"] in clients]
    checked = 0
    for c in names:
        local = ev.addr(c["ret"])
        peer = ev.addr(c["peer"])
        if not local or not peer:
            continue
        syn = ev.first(
            packets, lambda p, local=local, peer=peer: ev.is_syn(p) and ev.endpoints(p) == (local, peer)
        )
        if syn is None:
            return (
                False,
                f"getsockname() #{c['id']} says {local[0]}:{local[1]} but no SYN from it to {peer}",
            )
        bound = any(
            ev.addr(b["args"].get("address")) == local
            for b in ev.calls_named(calls, "bind")
            if b["sock"] == c["sock"]
        )
        if not bound and not low <= local[1] <= high:
            return False, f"port {local[1]} of getsockname() #{c['id']} is outside {low}-{high}"
        checked += 1
    return checked > 0, f"{checked} client sockets: getsockname() port = their SYN's source port"


def peername_matches_syn(packets: Packets, calls: Calls) -> Result:
    """getpeername() on an accepted socket names the address and port the SYN came from."""
    checked = 0
    for c in ev.calls_named(calls, "getpeername"):
        peer, local = ev.addr(c["ret"]), ev.addr(c["local"])
        if not peer or not local:
            continue
        syn = ev.first(
            packets, lambda p, peer=peer, local=local: ev.is_syn(p) and ev.endpoints(p) == (peer, local)
        )
        if syn is not None:
            checked += 1
    return checked > 0, f"{checked} getpeername() results match a SYN's source address and port"


def ip_version(packets: Packets, calls: Calls, version: int, role: str | None = None) -> Result:
    """Every packet of ``role`` (or every IP packet) travels in IP version ``version``."""
    chosen = ev.matching(packets, lambda p: bool(p["ip"]) and (role is None or ev.role(p) == role))
    if not chosen:
        return False, f"no {role or 'IP'} packets"
    other = [p for p in chosen if ev.ip_of(p)["version"] != version]
    if other:
        return False, f"{ev.frame(other[0])} is IPv{ev.ip_of(other[0])['version']}, not IPv{version}"
    return True, f"all {len(chosen)} {role or 'IP'} packets are IPv{version}"


# -- the network -------------------------------------------------------------------------------------
def ttl_per_hop(packets: Packets, calls: Calls, routers: int) -> Result:
    """The client's SYN, seen on every link: same IP/TCP headers, TTL one lower after each router."""
    syn = ev.first(packets, ev.is_syn)
    if syn is None:
        return False, "no SYN captured"
    copies = ev.matching(packets, lambda p: packet_identity(p) == packet_identity(syn))
    ttls = sorted({ev.ip_of(p)["ttl"] for p in copies}, reverse=True)
    expected = [ttls[0] - i for i in range(routers + 1)] if ttls else []
    ok = ttls == expected
    return (
        ok,
        f"SYN {ev.frame(syn)} seen {len(copies)} times with TTLs {ttls} "
        f"(expected {routers + 1} values, -1 per hop)",
    )


def new_ethernet_per_link(packets: Packets, calls: Calls, links: int) -> Result:
    """The client's SYN carries a different Ethernet header (source, destination MAC) on each link."""
    syn = ev.first(packets, ev.is_syn)
    if syn is None:
        return False, "no SYN captured"
    copies = ev.matching(packets, lambda p: packet_identity(p) == packet_identity(syn))
    pairs = {ev.eth_addrs(p) for p in copies}
    return len(
        pairs
    ) == links, f"the SYN has {len(pairs)} distinct Ethernet headers (expected {links}, one per link)"


def arp_per_link(packets: Packets, calls: Calls, links: int) -> Result:
    """ARP requests on ``links`` different links: each hop resolves its next hop's MAC address itself."""
    pairs = {_arp_pair(p) for p in ev.matching(packets, lambda p: ev.role(p) == "arp-request")}
    return len(pairs) >= links, f"ARP requests between {len(pairs)} address pairs (expected >= {links} links)"


def _arp_pair(p: PacketRecord) -> frozenset[str | None]:
    """The two addresses of an ARP request (sender, target), in either order."""
    arp = p["arp"]
    return frozenset((None,)) if arp is None else frozenset((arp["sender_ip"], arp["target_ip"]))


def _fragments_at(packets: Packets, node: str) -> Packets:
    return ev.matching(packets, lambda p: p["node"] == node and ev.ip_frag(p) is not None)


def _datagram(p: PacketRecord) -> tuple[str, int]:
    """Which datagram a fragment belongs to: its source and fragment id."""
    return ev.ip_of(p)["src"], ev.frag_of(p)["id"]


def first_fragmented(packets: Packets, node: str) -> Packets:
    """The fragments, at ``node``'s capture point, of the first datagram that was fragmented there."""
    frags = _fragments_at(packets, node)
    if not frags:
        return []
    key = _datagram(frags[0])
    return [p for p in frags if _datagram(p) == key]


def fragments(packets: Packets, calls: Calls, node: str, max_len: int, min: int = 2) -> Result:
    """IP fragments captured at ``node``: each within the link MTU ``max_len``; the first fragmented
    datagram complete (offsets from 0, a last fragment without More Fragments)."""
    frags = _fragments_at(packets, node)
    if len(frags) < min:
        return False, f"{len(frags)} IP fragments captured at {node} (expected >= {min})"
    too_big = [p for p in frags if p["len"] - 14 > max_len]
    if too_big:
        return False, f"{ev.frame(too_big[0])} is {int(too_big[0]['len']) - 14} bytes of IP > {max_len}"
    first = first_fragmented(packets, node)
    offsets = sorted(ev.frag_of(p)["offset"] for p in first)
    last = [p for p in first if not ev.frag_of(p)["mf"]]
    ok = bool(last) and offsets[0] == 0
    return ok, (
        f"{len(frags)} fragments at {node}, all <= {max_len} bytes of IP; the first datagram's offsets "
        f"{offsets}, last fragment {'present' if last else 'missing'}"
    )


# -- applications ------------------------------------------------------------------------------------
def app_named(packets: Packets, calls: Calls, app: str, min: int = 1) -> Result:
    """Every packet that carries transport payload (a UDP datagram, a TCP segment with data) has its
    application layer named ``app`` — the decoder recognised the protocol in each one."""
    carrying = ev.matching(packets, lambda p: bool(p["udp"]) or ev.payload_len(p) > 0)
    if len(carrying) < min:
        return False, f"{len(carrying)} packets carry payload (expected >= {min})"
    unnamed = [p for p in carrying if p["app"] is None or p["app"].upper() != app.upper()]
    if unnamed:
        first = ev.frame(unnamed[0])
        return False, f"{len(unnamed)} of {len(carrying)} payload packets not named {app}, first {first}"
    return True, f"all {len(carrying)} payload packets are named {app}"


def server_speaks_first(packets: Packets, calls: Calls, port: int) -> Result:
    """On connections to ``port`` the first data segment comes from the server (a greeting: SMTP, FTP)."""
    data = ev.first(
        packets,
        lambda p: (
            ev.payload_len(p) > 0 and port in (ev.tcp_port(p, "sport"), ev.tcp_port(p, "dport"))
        ),
    )
    if data is None:
        return False, f"no data on port {port}"
    ok = ev.tcp_port(data, "sport") == port
    return ok, f"first data segment {ev.frame(data)} is from the {'server' if ok else 'client'}"


def new_tid(packets: Packets, calls: Calls, port: int) -> Result:
    """A request to ``port`` is answered from another port: TFTP's transfer identifier (TID)."""
    req = ev.first(packets, lambda p: ev.udp_port(p, "dport") == port)
    if req is None:
        return False, f"no datagram to port {port}"
    client = ev.ends_of(req)[0]
    reply = ev.first(packets, lambda p: p["udp"] is not None and ev.ends_of(p)[1] == client)
    if reply is None:
        return False, f"no reply to {client[0]}:{client[1]}"
    sport = ev.udp_of(reply)["sport"]
    return sport != port, f"request {ev.frame(req)} to port {port}; reply {ev.frame(reply)} from port {sport}"


CHECKS: dict[str, Callable[..., Result]] = {
    "role_count": role_count,
    "no_protocol": no_protocol,
    "call_result": call_result,
    "handshake_before_accept": handshake_before_accept,
    "connects_before_accept": connects_before_accept,
    "silent_calls": silent_calls,
    "fin_each_direction": fin_each_direction,
    "half_close": half_close,
    "rst_answers_syn": rst_answers_syn,
    "syn_backoff": syn_backoff,
    "quiet_during": quiet_during,
    "send_partial": send_partial,
    "segments_within_mss": segments_within_mss,
    "mss_announced": mss_announced,
    "payload_matches_calls": payload_matches_calls,
    "tcp_loss": tcp_loss,
    "datagram_per_call": datagram_per_call,
    "ephemeral_port": ephemeral_port,
    "peername_matches_syn": peername_matches_syn,
    "ip_version": ip_version,
    "ttl_per_hop": ttl_per_hop,
    "new_ethernet_per_link": new_ethernet_per_link,
    "arp_per_link": arp_per_link,
    "fragments": fragments,
    "app_named": app_named,
    "server_speaks_first": server_speaks_first,
    "new_tid": new_tid,
}

# the protocol labs' checks (ICMP, IGMP, FTP, SNMP, Telnet, PPP/SLIP) live in their own module
from lab.labs.protocol_checks import PROTOCOL_CHECKS  # noqa: E402

CHECKS.update(PROTOCOL_CHECKS)
CHECKS.update(ROUTING_CHECKS)  # OSPF/EIGRP labs: lab.labs.routingchecks
