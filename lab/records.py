"""The records a run writes, defined once: packets, calls, conversations, the summary and the report.

Why TypedDicts and not dataclasses: the records are JSON lines written at over 100,000 packets a second by
hand-made templates (``analysis.fastpath``, the tracer's ``_emit``); a TypedDict describes those dicts
exactly as they are, costs nothing at run time and lets a type checker follow every reader's key access.
The public library (``lab.runs``) wraps them in small classes (``Packet``, ``Call``) for people.

The JSON Schema shipped with the package (``lab/schema/*.schema.json``) is generated from these classes by
``json_schema()``; a test keeps the shipped files equal to what the classes say, and another validates what
every writer produces against them. Change a record here, regenerate with ``python -m lab.records``.
"""

import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict, Union

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

Address = list[str | int]  # [host, port] (IPv6: [host, port, flowinfo, scope_id]); a path for AF_UNIX
"""A socket address as the tracers write it: the tuple Python's socket module returns, as a JSON list."""


# -- the vocabulary of cause rules ----------------------------------------------------------------------
CAUSE_RULES: dict[str, str] = {
    # TCP: opening
    "syn-connect": "a SYN: connect() by the client (a traced call, or inferred from the packet)",
    "syn-retransmit": "the kernel resends an unanswered SYN (retransmission timer)",
    "syn-ack": "the listening server's kernel answers a SYN (listen() socket; accept() returns later)",
    "synack-retransmit": "the server's kernel resends a SYN-ACK the client did not acknowledge",
    "handshake-ack": "the client's kernel completes the handshake; connect() returns",
    # TCP: data
    "tcp-data": "data whose stream offsets are unknown (handshake not captured, or no call log): a send()",
    "tcp-data-offset": "data matched by stream offset to the send calls that wrote those bytes",
    "tcp-retransmit": "the kernel resends data not yet acknowledged",
    # TCP: pure ACKs (attribution.tcp's ACK_RULES; without a call log the flow's analysis flags decide)
    "ack": "the kernel acknowledges received data",
    "ack-fin": "the kernel acknowledges the peer's FIN",
    "ack-in-recv": "an ACK sent inside a recv call: reading opened the receive window",
    "delayed-ack": "an ACK the kernel held back (delayed ACK timer) before sending it alone",
    "dup-ack": "a duplicate ACK: the receiver still expects the same byte (a segment is missing)",
    "keepalive": "a keep-alive probe (SO_KEEPALIVE)",
    "probe-ack": "the kernel answers the peer's keep-alive or zero-window probe",
    "window-update": "the kernel announces a new receive window, nothing else new",
    # TCP: closing and resets
    "fin-close": "a FIN: close() or shutdown(SHUT_WR) by the application",
    "fin-exit": "a FIN the kernel sends as the process exits without close()",
    "fin-retransmit": "the kernel resends an unacknowledged FIN",
    "rst-refused": "the kernel refuses a SYN: no socket listens on the port (ECONNREFUSED)",
    "rst-linger0": "close() with SO_LINGER 0 aborts the connection",
    "rst-unread": "close() with unread received data: the kernel resets instead of sending FIN",
    "rst-dead-socket": "the kernel resets: a segment arrived for a socket already closed",
    # a reset whose reason the packets alone cannot tell apart; the call log names one of the three above
    "rst": "the kernel aborts the connection (close() with unread data, SO_LINGER 0, or a closed socket)",
    "rst-no-socket": "the kernel resets a connection a program crafted on a raw socket: no socket owns it",
    # UDP, IP
    "udp-sendto": "one datagram: one send call (sendto/send/sendmsg), traced or inferred",
    "udp-multicast": "a datagram to a multicast group, sent by a traced call",
    "ip-fragment": "an IP fragment of a datagram larger than the path MTU (the datagram's cause applies)",
    "raw-send": "a packet a program built itself and sent on a raw or packet socket",
    # ARP, NDP, MLD
    "arp-request": "the kernel resolves an address before sending to it",
    "arp-reply": "the kernel answers an ARP request for its address",
    "arp-gratuitous": "the kernel announces its own address (gratuitous ARP)",
    "arp-other": "an ARP opcode other than request or reply",
    "ndp-ns": "IPv6 neighbour solicitation: the kernel resolves an address",
    "ndp-na": "IPv6 neighbour advertisement: the kernel answers a solicitation",
    "ndp-rs": "IPv6 router solicitation",
    "ndp-ra": "IPv6 router advertisement",
    "ndp-dad": "IPv6 duplicate address detection (a solicitation from the unspecified address ::)",
    "mld": "multicast listener discovery: the kernel reports the groups of its addresses",
    # ICMP
    "icmp-echo-request": "an echo request (ping): a send on an ICMP socket, traced or inferred",
    "icmp-echo-reply": "the kernel answers an echo request",
    "icmp-error": "the kernel reports an error about a packet it could not deliver",
    # distinct from icmp-error: the call log tells which packet and socket the error is about
    "icmp-time-exceeded": "a router's kernel: the TTL ran out (traceroute)",
    "icmp-port-unreachable": "the kernel: no socket bound to the UDP port",
    "icmp-frag-needed": "a router's kernel: too big for the next link and DF set (path MTU discovery)",
    "icmp-other": "another ICMP message",
    # IGMP: the general path reads no per-group records; the call log ties joins and leaves to calls
    "igmp": "a multicast membership report or query (the messages not read group by group)",
    "igmp-join": "setsockopt(IP_ADD_MEMBERSHIP): the kernel reports the join",
    "igmp-leave": "setsockopt(IP_DROP_MEMBERSHIP) or close(): the kernel reports the leave",
    "igmp-join-repeat": "the kernel repeats a join report (robustness)",
    "igmp-leave-repeat": "the kernel repeats a leave report (robustness)",
    "igmp-join-untraced": "a join report with no traced call that joined",
    "igmp-leave-untraced": "a leave report with no traced call that left",
    "igmp-current-state": "the kernel answers a query with its current memberships",
    "igmp-query": "a querier asks which groups have members",
    "igmp-snooper": "the kernel joins the all-snoopers group (a bridge that snoops IGMP)",
    # routing daemons, PPP, the lab itself
    "ospf-send": "an OSPF message from a routing daemon (sendmsg() on a raw IP socket)",
    "eigrp-send": "an EIGRP message from a routing daemon (sendmsg() on a raw IP socket)",
    "ppp-control": "the PPP daemon negotiating the link (LCP, IPCP, authentication)",
    "lab-probe": "the lab's capture-readiness probe, not network traffic",
    "unknown": "no rule explains this packet (source unexplained)",
}
"""Every ``cause.rule`` a writer may produce, with what it means. ``lab analyze`` (no call log: the
packet's role decides) and lab runs (the call log decides) use the same names for the same event; names
differ only where the reasoning does (the comments say where). A segment with data and FIN has both rules,
joined by ``+`` (``tcp-data-offset+fin-close``)."""


class _Schema(dict):
    """JSON Schema keywords an ``Annotated`` field adds to its type's schema."""


def _rule_schema() -> _Schema:
    """One name of the vocabulary, or several joined by ``+``."""
    bad = [r for r in CAUSE_RULES if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", r)]
    if bad:  # the pattern below joins the names unescaped
        raise ValueError(f"cause rule names must be lowercase words joined by '-': {bad}")
    one = "|".join(CAUSE_RULES)
    return _Schema(anyOf=[{"enum": list(CAUSE_RULES)}, {"pattern": f"^(?:{one})(?:\\+(?:{one}))+$"}])


CauseRule = Annotated[str, _rule_schema()]
"""A name of ``CAUSE_RULES``, or several joined by ``+``."""


def is_cause_rule(rule: str) -> bool:
    """Whether ``rule`` is in the vocabulary (each part of a ``+`` combination)."""
    return all(part in CAUSE_RULES for part in rule.split("+"))


# -- packets.jsonl --------------------------------------------------------------------------------------
class Layer(TypedDict):
    """One header of a frame and its place in both models."""

    name: str
    tcpip: Literal["link", "internet", "transport", "application"]
    osi: int
    offset: int
    length: int
    note: NotRequired[str]


class Role(TypedDict):
    code: str
    text: str


class Cause(TypedDict):
    """Why the packet exists. ``source``: call (a socket call sent it: ``calls``), kernel (on its own:
    ``related`` calls it acts for, ``answers`` the frame it answers), lab (capture probes), inferred
    (implied by the packet alone) or unexplained. ``truncated``: the datagram's receive call got only part
    of it (its buffer was too small)."""

    source: Literal["call", "kernel", "lab", "inferred", "unexplained"]
    rule: CauseRule
    text: str
    calls: NotRequired[list[int]]
    answers: NotRequired[int | None]
    consumed_by: NotRequired[list[int]]
    peeked_by: NotRequired[list[int]]
    related: NotRequired[list[int]]
    node: NotRequired[str]
    copy_of: NotRequired[int]
    truncated: NotRequired[bool]


class Lost(TypedDict):
    """A copy that never reached the next link of its path (emulated loss)."""

    link: str
    seen_last_on: str
    rule: str
    carried_by: int | None


class Ethernet(TypedDict):
    src: str
    dst: str | None


class IPFragment(TypedDict):
    id: int
    offset: int
    mf: bool


class IP(TypedDict):
    version: int
    src: str
    dst: str
    ttl: int
    id: int | None
    proto: int
    frag: IPFragment | None


class TCP(TypedDict):
    sport: int
    dport: int
    flags: str | None
    flags_int: int | None
    seq_raw: int | None
    ack_raw: int | None
    seq: int | None
    ack: int | None
    len: int | None
    win: int | None
    mss: int | None
    stream: int | None
    from_client: bool | None


class UDP(TypedDict):
    sport: int
    dport: int
    length: int
    stream: int
    sha1: NotRequired[str]


class ICMPQuoted(TypedDict):
    """The datagram an ICMP error quotes; addresses and protocol are null when the quote is cut short."""

    src: str | None
    dst: str | None
    proto: int | None
    id: NotRequired[int]
    sport: NotRequired[int]
    dport: NotRequired[int]


class ICMPEcho(TypedDict):
    id: int
    seq: int


class ICMP(TypedDict):
    version: int
    type: int
    code: int
    name: str
    quoted: NotRequired[ICMPQuoted | None]
    echo: NotRequired[ICMPEcho]
    mtu: NotRequired[int]


class ARP(TypedDict):
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


class FTPLines(TypedDict):
    """FTP control lines of one segment (commands or numbered replies)."""

    lines: list[str]
    complete: bool


class TelnetFields(TypedDict):
    """Telnet option negotiation in one segment: the IAC commands as words, and the plain data bytes."""

    commands: list[str]
    data_bytes: int


class SlipFields(TypedDict):
    """libpcap's SLIP pseudo-header: direction, packet type (IP, or CSLIP's VJ uncompressed/compressed
    TCP) and the 14 bytes that hold a CSLIP compressed header (hex)."""

    direction: str
    type: str
    compressed_header: str


class PacketRecord(TypedDict):
    """One line of packets.jsonl: one captured frame, explained."""

    schema_version: int
    number: int
    ts_ns: int | None
    t: float | None
    interface: str
    node: str | None
    len: int
    caplen: int
    layers: list[Layer]
    summary: str
    eth: Ethernet | None
    ip: IP | None
    tcp: TCP | None
    udp: UDP | None
    icmp: ICMP | None
    arp: ARP | None
    app: str | None
    role: Role
    analysis: list[str]
    cause: Cause
    comments: NotRequired[list[str]]
    malformed: NotRequired[str]
    lost: NotRequired[Lost]
    deep: NotRequired[Any]
    igmp: NotRequired[dict[str, Any]]
    snmp: NotRequired[dict[str, Any]]
    ftp: NotRequired[FTPLines]
    telnet: NotRequired[TelnetFields]
    routing: NotRequired[dict[str, Any]]
    ppp: NotRequired[dict[str, Any]]
    slip: NotRequired[SlipFields]


# -- calls.jsonl ----------------------------------------------------------------------------------------
class RawIPHeader(TypedDict):
    """The IPv4 header of a raw IP datagram, where the bytes showed it (received, or sent with IP_HDRINCL)."""

    src: str
    dst: str
    id: int
    proto: int


class Datagram(TypedDict):
    """What one data call moved as a unit: a UDP or ping datagram, or a raw socket's frame or packet.

    ``sha1`` (16 hex digits; null when the tracer saw only part of the bytes) matches the call to the
    captured packet. Raw sockets (``raw``) say what was hashed in ``level``: ``link`` (an AF_PACKET
    SOCK_RAW frame, Ethernet header included), ``network`` (AF_PACKET SOCK_DGRAM: from the IP header on)
    or ``ip-payload`` (raw IP: what follows the IP header; absent in the strace converter's records, which
    mean the same); ``pkttype`` is the packet socket's frame type of a read frame (4: a copy of a frame
    this node sent)."""

    peer: Address | None
    len: int
    sha1: str | None
    raw: NotRequired[bool]
    level: NotRequired[Literal["link", "network", "ip-payload"]]
    pkttype: NotRequired[int]
    ip: NotRequired[RawIPHeader | None]


class CallRecord(TypedDict):
    """One line of calls.jsonl: one socket call, as the in-process tracer or strace saw it (``exception``
    and ``message``: what Python raised, as it prints it; ``error``: the errno name). Times are on
    the capture's clock (CLOCK_REALTIME ns); ``sent_*``/``recv_*`` are the socket's running byte offsets
    before and after the call, which is how TCP segments are matched to calls exactly."""

    schema_version: int
    id: int
    tracer: Literal["python", "strace"]
    node: str | None
    pid: int
    tid: int
    sock: str | None
    fd: int | None
    call: str
    args: dict[str, Any]
    ret: Any
    error: str | None
    exception: str | None
    message: NotRequired[str | None]
    t_start_ns: int
    t_end_ns: int
    family: str | None
    type: str | None
    local: Address | None
    peer: Address | None
    nbytes: int | None
    sent_before: int | None
    sent_after: int | None
    recv_before: int | None
    recv_after: int | None
    dgram: Datagram | None
    cmd: NotRequired[str]
    program: NotRequired[str]  # the daemon that made the call (``ospfd``), for a routing daemon's calls


# -- conversations.jsonl --------------------------------------------------------------------------------
class Endpoint(TypedDict):
    addr: str
    port: int


class TcpConversation(TypedDict):
    """A TCP stream of conversations.jsonl; client and server are known from the SYN when it was seen."""

    schema_version: int
    proto: Literal["tcp"]
    stream: int
    app: str | None
    first_frame: int
    last_frame: int
    client: Endpoint
    server: Endpoint
    client_determined_by: str
    packets_c2s: int
    packets_s2c: int
    payload_bytes_c2s: int
    payload_bytes_s2c: int
    syn_frame: int | None
    syn_ack_frame: int | None
    handshake_ack_frame: int | None
    handshake_complete: bool
    fin_from: list[str]
    fin_frames: list[int]
    rst_from: list[str]
    rst_frames: list[int]
    teardown: str | None
    analysis_counts: dict[str, int]


class UdpConversation(TypedDict):
    """A UDP conversation of conversations.jsonl: who sent first, and how many datagrams answered."""

    schema_version: int
    proto: Literal["udp"]
    stream: int
    app: str | None
    first_frame: int
    last_frame: int
    first_sender: Endpoint
    first_receiver: Endpoint
    packets_from_first_sender: int
    packets_other_direction: int
    responses: int


ConversationRecord = TcpConversation | UdpConversation
"""One line of conversations.jsonl."""


# -- summary.json, report.json -------------------------------------------------------------------------
class PcapInterface(TypedDict):
    index: int
    name: str | None
    linktype: int


class SummaryRecord(TypedDict):
    """summary.json: what one analysis of a capture found (``lab analyze``; a lab run keeps it in its report).
    ``coverage``: the share of packets a call, the kernel or the lab explains; ``described``: the share not
    unexplained (inferred included). The counts (``layers_seen``, ``apps``, ...) are most frequent first."""

    schema_version: int
    file: str
    format: str
    interfaces: list[PcapInterface]
    packets: int
    conversations: dict[str, int]
    handshakes: dict[str, int]
    teardowns: dict[str, int]
    udp_request_response_pairs: int
    layers_seen: dict[str, int]
    apps: dict[str, int]
    roles: dict[str, int]
    cause_sources: dict[str, int]
    coverage: float
    described: float
    errors: list[str]
    outputs: dict[str, str]


class InterfaceDrops(TypedDict):
    """One capture point's counts from dumpcap (null: unknown, no statistics block and no log line)."""

    received: int | None
    dropped: int | None


class CaptureCounts(TypedDict):
    """report.json ``capture``: what dumpcap says it received and dropped per capture point, and whether
    the capture is complete (nothing dropped, nothing unknown). A snapshot of a capture still running
    (``lab explain`` before ``lab down``) cannot know yet: ``complete`` is null and ``note`` says why."""

    complete: bool | None
    dropped: NotRequired[int]
    per_interface: NotRequired[dict[str, InterfaceDrops]]
    unknown: NotRequired[list[str]]
    note: NotRequired[str]


class Coverage(TypedDict):
    """report.json ``coverage``: how many packets a call, the kernel or the lab explains (``explained`` of
    ``total``; the lab's own probe frames are not counted), and the count per cause rule and source.
    ``capture_complete`` (lab runs, ``lab.network()``) says whether the capture behind it lost nothing."""

    explained: int
    total: int
    ratio: float
    by_rule: dict[str, int]
    by_source: dict[str, int]
    capture_complete: NotRequired[bool]


class NodeInterface(TypedDict):
    """One interface of a node in report.json's ``nodes``."""

    name: str
    ipv4: str | None
    ipv6: str | None
    mac: str | None
    peer: str | None


class NodeInfo(TypedDict):
    """One node of report.json's ``nodes``: its kind (host, router, switch), its network namespace (null in
    a loopback run) and its interfaces."""

    kind: str
    namespace: str | None
    interfaces: list[NodeInterface]


class Observation(TypedDict):
    """One expected observation of a lab run as report.json keeps it: the check, its parameters and label
    from the lab file, whether it held, and the sentence that says what was seen."""

    check: str
    params: dict[str, Any]
    label: str
    ok: bool
    detail: str


class Question(TypedDict):
    """A lab's question as the report shows it: never its answer."""

    id: str
    text: str


class ReportRecord(TypedDict):
    """report.json: a lab run (``lab run``), a by-hand session's explanation (``lab explain``/``lab down``:
    ``live``, ``window_start_ns``) or a ``lab.network()`` capture. ``failures`` empty is ``ok``; a run cut
    short after writing it says so in ``partial``/``partial_reason``. Only a lab run has ``observations``,
    ``questions``, ``steps`` and the network's ``conditions``/``routes``/``kernel_counters``. The nested
    ``steps`` are still evolving and kept open here."""

    schema_version: int
    lab: str | None
    title: str
    run_id: str
    out: str
    topology: str | None
    nodes: dict[str, NodeInfo]
    capture: CaptureCounts
    packets: int
    calls: int
    coverage: Coverage
    summary: SummaryRecord
    analysis_errors: list[str]
    failures: list[str]
    ok: bool
    loopback: NotRequired[bool]
    conditions: NotRequired[list[str]]
    kernel_counters: NotRequired[dict[str, dict[str, int]]]
    routes: NotRequired[list[dict[str, Any]]]  # routes.jsonl's events (dynamic routing)
    steps: NotRequired[list[dict[str, Any]]]
    observations: NotRequired[list[Observation]]
    questions: NotRequired[list[Question]]
    partial: NotRequired[bool]
    partial_reason: NotRequired[str]
    window_start_ns: NotRequired[int | None]
    live: NotRequired[bool]


RECORDS: dict[str, Any] = {
    "packet": PacketRecord,
    "call": CallRecord,
    "conversation": ConversationRecord,
    "report": ReportRecord,
    "summary": SummaryRecord,
}
"""The record kinds, by the name of their schema file (``lab/schema/<name>.schema.json``)."""


# -- JSON Schema from the classes ----------------------------------------------------------------------
def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one annotation; TypedDicts become ``$defs`` entries referred to by name."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (Required, NotRequired):
        return _schema_of(args[0], defs)
    if origin is Annotated:
        schema = _schema_of(args[0], defs)
        for extra in tp.__metadata__:
            if isinstance(extra, _Schema):
                schema.update(extra)
        return schema
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1], defs)}
    if _is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # claimed first: a record may refer to itself
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for the annotation {tp!r}")


def _object_schema(tp: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp, include_extras=True)
    props = {key: _schema_of(hint, defs) for key, hint in hints.items()}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": sorted(tp.__required_keys__),  # type: ignore[attr-defined]
        "additionalProperties": False,
    }
    if tp.__doc__:
        schema["description"] = " ".join(tp.__doc__.split())
    return schema


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record kind of ``RECORDS``, self-contained."""
    record = RECORDS[name]
    defs: dict[str, Any] = {}
    root = _object_schema(record, defs) if _is_typeddict(record) else _schema_of(record, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"lab/{name}/v{SCHEMA_VERSION}",
        "title": f"lab {name} record, schema version {SCHEMA_VERSION}",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def shipped_schema(name: str) -> dict[str, Any]:
    """The schema shipped with the package for a record kind (a name of ``RECORDS``)."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the shipped schema files from the classes above."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in RECORDS:
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas():
        print(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p, file=sys.stdout)
