"""The records a run writes, defined once: packets, calls, conversations.

Why TypedDicts and not dataclasses: the records are JSON lines written at over 100,000 packets a second by
hand-made templates (``analysis.fastpath``, the tracer's ``_emit``); a TypedDict describes those dicts
exactly as they are, costs nothing at run time and lets a type checker follow every reader's key access.
The public library (``lab.runs``) wraps them in small classes (``Packet``, ``Call``) for people.

The JSON Schema shipped with the package (``lab/schema/*.schema.json``) is generated from these classes by
``json_schema()``; a test keeps the shipped files equal to what the classes say, and another validates what
every writer produces against them. Change a record here, regenerate with ``python -m lab.records``.
"""

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, Union

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

Address = list[str | int]  # [host, port] (IPv6: [host, port, flowinfo, scope_id]); a path for AF_UNIX
"""A socket address as the tracers write it: the tuple Python's socket module returns, as a JSON list."""


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
    (implied by the packet alone) or unexplained."""

    source: Literal["call", "kernel", "lab", "inferred", "unexplained"]
    rule: str
    text: str
    calls: NotRequired[list[int]]
    answers: NotRequired[int | None]
    consumed_by: NotRequired[list[int]]
    peeked_by: NotRequired[list[int]]
    related: NotRequired[list[int]]
    node: NotRequired[str]
    copy_of: NotRequired[int]


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
    src: str
    dst: str
    proto: int
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


RECORDS: dict[str, Any] = {
    "packet": PacketRecord,
    "call": CallRecord,
    "conversation": ConversationRecord,
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
    hints = typing.get_type_hints(tp)
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
    """The schema shipped with the package for a record kind (``packet``, ``call``, ``conversation``)."""
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
