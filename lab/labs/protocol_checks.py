"""Checks and answers for the protocol labs (ICMP, IGMP, FTP, SNMP, Telnet, PPP/SLIP), by attribution.

The socket-flow checks (``checks.py``) count roles and flags; the protocol labs instead ask *who* put a
packet on the wire: a call of a given name (``attributed(rule=..., call=sendto)``), the kernel of a given
node (``node: r1``), and who heard of it (``consumed_by: recv``). They read the causes the attribution
wrote into packets.jsonl, one packet once: a forwarded copy (``cause.copy_of``) is the same packet.

Registered into ``CHECKS`` and ``QUESTIONS`` at the end of those modules.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.labs import evidence as ev
from lab.paths import RunPaths
from lab.records import CallRecord, PacketRecord

Result = tuple[bool, str]
Packets = list[PacketRecord]
Calls = list[CallRecord]


def _originals(packets: Packets) -> Packets:
    """Each packet once: the first sighting, not the forwarded copies."""
    return sorted((p for p in ev.wire(packets) if p["cause"].get("copy_of") is None), key=ev.ts)


def _calls_named(calls: Calls, ids: list[int], name: str) -> Calls:
    wanted = ev.names_for(name)
    by_id = {c["id"]: c for c in calls}
    return [by_id[i] for i in ids if i in by_id and by_id[i]["call"] in wanted]


def _attributed(
    packets: Packets, calls: Calls, rule: str, call: str | None, node: str | None, consumed_by: str | None
) -> Packets:
    out = []
    for p in _originals(packets):
        cause = p["cause"]
        if cause["rule"] != rule:
            continue
        if call is not None and not _calls_named(calls, cause.get("calls", []), call):
            continue
        if node is not None and cause.get("node") != node:
            continue
        if consumed_by is not None and not _calls_named(calls, cause.get("consumed_by", []), consumed_by):
            continue
        out.append(p)
    return out


def attributed(
    packets: Packets,
    calls: Calls,
    rule: str,
    call: str | None = None,
    node: str | None = None,
    consumed_by: str | None = None,
    min: int = 1,
    count: int | None = None,
) -> Result:
    """Packets explained by attribution rule ``rule`` (each packet once, forwarded copies aside), sent
    by a call named ``call`` or by the kernel of ``node``, and read (or reported) by a call named
    ``consumed_by`` — at least ``min`` of them, or exactly ``count``."""
    found = _attributed(packets, calls, rule, call, node, consumed_by)
    said = (
        f"sent by {call}()" if call else None,
        f"from {node}" if node else None,
        f"heard by {consumed_by}()" if consumed_by else None,
    )
    who = " ".join(part for part in said if part)
    ok = len(found) == count if count is not None else len(found) >= min
    want = f"exactly {count}" if count is not None else f">= {min}"
    frames = ", ".join(str(p["number"]) for p in found[:8])
    detail = f"{len(found)} packets explained as {rule}{' ' + who if who else ''} (expected {want})"
    if found:
        detail += f"; frames {frames}: {found[0]['cause']['text'][:160]}"
    return ok, detail


def icmp_echo_id(packets: Packets, calls: Calls) -> int | None:
    """The identifier of the first ICMP echo request: chosen by the kernel for a ping socket."""
    req = ev.first(packets, lambda p: _icmp_is(p, 8))
    icmp = req["icmp"] if req is not None else None
    echo = icmp.get("echo") if icmp is not None else None
    return echo["id"] if echo is not None else None


def icmp_error_senders(packets: Packets, calls: Calls, type: int, code: int | None = None) -> list[str]:
    """The nodes whose kernels sent ICMP errors of ``type`` (and ``code``), in capture order, each
    packet once."""
    out = []
    for p in _originals(packets):
        if _icmp_is(p, type, code):
            node = p["cause"].get("node")
            out.append(node if node is not None else str(ev.ip_addr(p, "src")))
    return out


def icmp_next_mtu(packets: Packets, calls: Calls) -> int | None:
    """The next-hop MTU announced by the first "fragmentation needed" (ICMP type 3, code 4)."""
    msg = ev.first(packets, lambda p: _icmp_is(p, 3, 4))
    icmp = msg["icmp"] if msg is not None else None
    return icmp.get("mtu") if icmp is not None else None


def _icmp_is(p: PacketRecord, type: int, code: int | None = None) -> bool:
    """Whether the packet is an ICMP message of ``type`` (and ``code``, when given)."""
    icmp = p["icmp"]
    return icmp is not None and icmp["type"] == type and (code is None or icmp["code"] == code)


def multicast_readers(packets: Packets, calls: Calls, group: str, nodes: list[str]) -> Result:
    """Every datagram to ``group`` was read by a call on each of ``nodes`` (the members), and by no
    other node."""
    by_id = {c["id"]: c for c in calls}
    sent = [p for p in _originals(packets) if ev.ip_addr(p, "dst") == group and p["udp"] is not None]
    if not sent:
        return False, f"no datagram to {group}"
    for p in sent:
        readers = sorted(
            {str(by_id[i]["node"]) for i in p["cause"].get("consumed_by", []) if i in by_id}
        )
        if readers != sorted(nodes):
            return (
                False,
                f"{ev.frame(p)} to {group} read on {readers or 'no node'} (expected {sorted(nodes)})",
            )
    return True, f"{len(sent)} datagrams to {group}, each read on {', '.join(sorted(nodes))}"


def igmp_group(packets: Packets, calls: Calls, node: str | None = None) -> str | None:
    """The group of the first IGMP membership report (of ``node``, as attributed; its first group
    record for IGMPv3)."""
    for p in _originals(packets):
        igmp = p.get("igmp")
        if igmp is None or (node is not None and p["cause"].get("node") != node):
            continue
        if igmp["type"] in (0x12, 0x16):
            return igmp["group"]
        if igmp.get("records"):  # an IGMPv3 report's group records
            return igmp["records"][0]["group"]
    return None


def igmp_report_dst(packets: Packets, calls: Calls) -> str | None:
    """The destination IP address of the first IGMP membership report (224.0.0.22 for IGMPv3)."""
    rep = ev.first(packets, lambda p: _igmp_type(p) in (0x12, 0x16, 0x22))
    return ev.ip_addr(rep, "dst") if rep is not None else None


def _igmp_type(p: PacketRecord) -> int | None:
    """The IGMP message type (None: not IGMP)."""
    igmp = p.get("igmp")
    return igmp["type"] if igmp is not None else None


def multicast_mac(packets: Packets, calls: Calls) -> str | None:
    """The Ethernet destination of the first UDP datagram to a multicast group."""
    dgram = ev.first(packets, lambda p: p["udp"] is not None and _multicast_v4(ev.ip_addr(p, "dst")))
    return ev.eth_addrs(dgram)[1] if dgram is not None else None


def _multicast_v4(addr: str | None) -> bool:
    """Whether ``addr`` is an IPv4 multicast group (224.0.0.0/4)."""
    first = addr.split(".")[0] if addr is not None else None
    return first is not None and first.isdigit() and 224 <= int(first) <= 239


def igmp_record_type(packets: Packets, calls: Calls, kind: str = "join") -> str | None:
    """The name of the IGMPv3 record type of the first report attributed as a ``kind`` (join/leave)."""
    for p in _originals(packets):
        if p["cause"]["rule"] == f"igmp-{kind}":
            igmp = p.get("igmp")
            if igmp is None:
                return None
            records = igmp.get("records")  # IGMPv3 reports only
            return records[0]["name"] if records else igmp["name"]
    return None


def _snmp(packets: Packets, pdu: str | None = None) -> Packets:
    """The SNMP messages (of type ``pdu``), each packet once."""
    return [p for p in _originals(packets) if _has_snmp(p) and (pdu is None or p["snmp"].get("pdu") == pdu)]


def _has_snmp(p: PacketRecord) -> bool:
    return p.get("snmp") is not None


def _varbinds(snmp: dict[str, Any]) -> list[dict[str, Any]]:
    """The variable bindings of an SNMP message (none in an SNMPv3, trap or malformed message)."""
    varbinds = snmp.get("varbinds")
    return varbinds if varbinds is not None else []


def snmp_pdu(
    packets: Packets,
    calls: Calls,
    pdu: str,
    community: str | None = None,
    oids: list[str] | None = None,
    value: str | int | None = None,
) -> Result:
    """An SNMP message of type ``pdu`` decoded with this community, these OIDs in order, or a variable
    bound to this value."""
    found = _snmp(packets, pdu)
    if not found:
        seen = sorted({str(p["snmp"].get("pdu")) for p in _snmp(packets)})
        return False, f"no SNMP {pdu} decoded (seen: {seen or 'no SNMP at all'})"
    for p in found:
        snmp = p["snmp"]
        got_oids = [v["oid"] for v in _varbinds(snmp)]
        values = [v["value"] for v in _varbinds(snmp)]
        if community is not None and snmp.get("community") != community:
            continue
        if oids is not None and got_oids != list(oids):
            continue
        if value is not None and value not in values:
            continue
        bound = ", ".join(f"{v['oid']} = {v['value']!r}" for v in _varbinds(snmp))
        return (
            True,
            f"{ev.frame(p)}: SNMP {snmp.get('version')} {pdu}, community {snmp.get('community')!r}, {bound}",
        )
    first = found[0]["snmp"]
    return False, f"{len(found)} SNMP {pdu} decoded, none as expected; first: {first}"


def _ftp_data(packets: Packets) -> list[dict[str, Any]]:
    """Each FTP data connection (first SYN seen of an FTP-DATA stream), with its mode: passive when
    its SYN goes to the port a 227 reply named, active when it goes to the port a PORT command named."""
    announced: dict[tuple[str | None, int], tuple[str, PacketRecord]] = {}
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for p in _originals(packets):
        tcp = ev.tcp(p)
        if tcp is None:
            continue
        text = _ftp_text(p)
        if text:
            endpoint = _ftp_endpoint(text)
            if endpoint:
                announced[endpoint[1]] = (endpoint[0], p)
        if ev.is_syn(p):
            dst = (ev.ip_addr(p, "dst"), tcp["dport"])
            if dst in announced and dst not in seen:
                seen.add(dst)
                mode, by = announced[dst]
                out.append({"mode": mode, "port": dst[1], "syn": p, "announced_by": by})
    return out


def _ftp_text(p: PacketRecord) -> str:
    """The FTP control lines of a segment, one text (empty: no FTP control lines)."""
    ftp = p.get("ftp")
    return "\n".join(ftp["lines"]) if ftp is not None else ""


def _ftp_endpoint(text: str) -> tuple[str, tuple[str, int]] | None:
    m = re.search(r"(?:227 .*?\(|PORT )(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
    if not m:
        return None
    g = [int(x) for x in m.groups()]
    mode = "passive" if text.startswith("227") else "active"
    return mode, (f"{g[0]}.{g[1]}.{g[2]}.{g[3]}", g[4] * 256 + g[5])


def ftp_data_connections(packets: Packets, calls: Calls, passive: int = 1, active: int = 0) -> Result:
    """FTP data connections opened as announced: ``passive`` ones to a port of a 227 reply (the client
    connects), ``active`` ones to a port of a PORT command (the server connects back)."""
    found = _ftp_data(packets)
    modes = [d["mode"] for d in found]
    ok = modes.count("passive") == passive and modes.count("active") == active
    detail = ", ".join(f"{d['mode']} port {d['port']} (SYN {ev.frame(d['syn'])})" for d in found)
    return ok, f"{detail or 'no data connection'} (expected {passive} passive, {active} active)"


def _telnet(packets: Packets, side: str) -> Packets:
    """Telnet segments with commands sent by the ``server`` (from port 23) or the ``client``."""
    out = []
    for p in _originals(packets):
        tel = p.get("telnet")
        from_server = ev.tcp_port(p, "sport") == 23
        if tel is not None and tel["commands"] and from_server == (side == "server"):
            out.append(p)
    return out


def telnet_negotiation(packets: Packets, calls: Calls, side: str, commands: list[str]) -> Result:
    """The ``side`` (client or server) sent each of these Telnet commands (e.g. ``WILL TERMINAL-TYPE``),
    each segment attributed to a call."""
    sent = _telnet(packets, side)
    said = [c for p in sent for c in p["telnet"]["commands"]]
    missing = [c for c in commands if c not in said]
    unattributed = [p for p in sent if p["cause"]["source"] != "call"]
    ok = not missing and not unattributed and bool(sent)
    detail = f"{side} sent {len(said)} commands in {len(sent)} segments: {', '.join(said[:12])}"
    if missing:
        detail += f"; missing {missing}"
    if unattributed:
        detail += f"; {ev.frame(unattributed[0])} not attributed to a call"
    return ok, detail


def _link(run_dir: Path | None) -> tuple[dict[str, Any], Packets]:
    """The ppp lab's link file: what ppp_link.py said of it (link.json) and its packets, analyzed here
    from the raw link.pcapng (as grading recomputes a key: never from a derived file a student holds)."""
    if run_dir is None:
        raise ValueError("this check reads the run directory's link capture")
    # the link step writes into {out}: the run's files/ directory (where lab programs may write)
    base = Path(run_dir) / "files" if (Path(run_dir) / "files" / "link.json").is_file() else Path(run_dir)
    meta = json.loads((base / "link.json").read_text())
    pcap = base / "link.pcapng"
    stamp = (str(pcap.resolve()), pcap.stat().st_mtime_ns, pcap.stat().st_size)
    if stamp not in _LINK_CACHE:
        from lab.analysis.pipeline import analyze_capture

        with tempfile.TemporaryDirectory(prefix="lab-link-") as tmp:
            analyze_capture(pcap, Path(tmp), progress=False)
            lines = RunPaths(Path(tmp)).packets.read_text().splitlines()
        _LINK_CACHE.clear()
        _LINK_CACHE[stamp] = [json.loads(line) for line in lines if line.strip()]
    return meta, _LINK_CACHE[stamp]


_LINK_CACHE: dict[tuple[str, int, int], Packets] = {}


def link_capture(
    packets: Packets,
    calls: Calls,
    layers: list[str],
    crafted_layers: list[str] = (),  # type: ignore[assignment]
    run_dir: Path | None = None,
) -> Result:
    """The ppp lab's link file decodes with these ``layers`` (plus ``crafted_layers`` when crafted), and
    says honestly what it is: every frame of a crafted file carries a comment saying "crafted", every
    frame of a captured one says where it was captured."""
    meta, frames = _link(run_dir)
    mode = meta.get("mode")
    word = "crafted" if mode == "crafted" else "captured"
    unlabelled = [f for f in frames if not any(word in c for c in f.get("comments", []))]
    seen = {ly["name"] for f in frames for ly in f["layers"]}
    wanted = list(layers) + (list(crafted_layers) if mode == "crafted" else [])
    missing = [name for name in wanted if name not in seen]
    ok = bool(frames) and not unlabelled and not missing and mode in ("crafted", "captured")
    detail = f"{len(frames)} {word} frames ({meta.get('reason')}); layers {sorted(seen)}"
    if unlabelled:
        detail += f"; frame {unlabelled[0]['number']} is not labelled {word}"
    if missing:
        detail += f"; missing {missing}"
    return ok, detail


PROTOCOL_CHECKS: dict[str, Callable[..., Result]] = {
    "attributed": attributed,
    "multicast_readers": multicast_readers,
    "snmp_pdu": snmp_pdu,
    "ftp_data_connections": ftp_data_connections,
    "telnet_negotiation": telnet_negotiation,
    "link_capture": link_capture,
}


def snmp_field(packets: Packets, calls: Calls, pdu: str, field: str) -> Any:
    """A field (community, request_id, error, version) of the first SNMP message of type ``pdu``."""
    found = _snmp(packets, pdu)
    return found[0]["snmp"].get(field) if found else None


def _varbind(packets: Packets, oid: str) -> dict[str, Any] | None:
    for p in _snmp(packets, "response"):
        for vb in _varbinds(p["snmp"]):
            if vb["oid"] == str(oid):
                return vb
    return None


def snmp_value(packets: Packets, calls: Calls, oid: str) -> Any:
    """The value the first response binds to ``oid``."""
    vb = _varbind(packets, oid)
    return vb["value"] if vb is not None else None


def snmp_value_type(packets: Packets, calls: Calls, oid: str) -> str | None:
    """The SNMP type (INTEGER, OCTET STRING, TimeTicks...) of ``oid``'s value in the first response."""
    vb = _varbind(packets, oid)
    return vb["type"] if vb is not None else None


def ftp_data_port(packets: Packets, calls: Calls, mode: str = "passive") -> int | None:
    """The port of the first ``mode`` (passive/active) FTP data connection, as its 227 reply or PORT
    command announced it."""
    return next((d["port"] for d in _ftp_data(packets) if d["mode"] == mode), None)


def ftp_data_opener(packets: Packets, calls: Calls, mode: str = "active") -> str | None:
    """The node that sent the SYN of the first ``mode`` FTP data connection (the client in passive
    mode, the server in active mode), as the attribution names the connect() behind it."""
    syn = next((d["syn"] for d in _ftp_data(packets) if d["mode"] == mode), None)
    if syn is None:
        return None
    by_id = {c["id"]: c for c in calls}
    ids = syn["cause"].get("calls", [])
    return str(by_id[ids[0]]["node"]) if ids and ids[0] in by_id else None


def telnet_commands(packets: Packets, calls: Calls, side: str = "server") -> list[str] | None:
    """The Telnet commands of the first segment with commands that ``side`` sent."""
    sent = _telnet(packets, side)
    return list(sent[0]["telnet"]["commands"]) if sent else None


def telnet_terminal(packets: Packets, calls: Calls) -> str | None:
    """The terminal type in the client's TERMINAL-TYPE IS subnegotiation."""
    for p in _telnet(packets, "client"):
        for c in p["telnet"]["commands"]:
            m = re.fullmatch(r"SB TERMINAL-TYPE IS '(.*)'", c)
            if m:
                return m.group(1)
    return None


def telnet_offers(packets: Packets, calls: Calls, command: str) -> str | None:
    """Which side (client or server) first sent ``command`` (e.g. ``WILL ECHO``)."""
    firsts = [(ev.ts(p), side) for side in ("client", "server") for p in _telnet(packets, side)
              if command in p["telnet"]["commands"]]  # fmt: skip
    return min(firsts)[1] if firsts else None


def ppp_option(
    packets: Packets, calls: Calls, protocol: str, code: str, option: str, run_dir: Path | None = None
) -> Any:
    """The value of ``option`` in the first ``protocol`` (LCP, IPCP) packet of type ``code`` on the ppp
    lab's link."""
    _meta, frames = _link(run_dir)
    for f in frames:
        ppp = f.get("ppp")
        if ppp is None or ppp.get("protocol") != protocol or ppp.get("code") != code:
            continue
        for o in ppp.get("options", []):  # a configure message's options; other messages have none
            if o["type"] == option:
                return o.get("value")  # an option without a value (a flag) has none
    return None


def link_layer_names(packets: Packets, calls: Calls, run_dir: Path | None = None) -> list[str]:
    """The link-layer names of the ppp lab's link frames (PPP, SLIP, CSLIP), each once, in order."""
    _meta, frames = _link(run_dir)
    names = [f["layers"][0]["name"] for f in frames if f["layers"]]
    return list(dict.fromkeys(names))


PROTOCOL_QUESTIONS: dict[str, Callable[..., Any]] = {
    "icmp_echo_id": icmp_echo_id,
    "icmp_error_senders": icmp_error_senders,
    "icmp_next_mtu": icmp_next_mtu,
    "igmp_group": igmp_group,
    "igmp_report_dst": igmp_report_dst,
    "multicast_mac": multicast_mac,
    "igmp_record_type": igmp_record_type,
    "snmp_field": snmp_field,
    "snmp_value": snmp_value,
    "snmp_value_type": snmp_value_type,
    "ftp_data_port": ftp_data_port,
    "ftp_data_opener": ftp_data_opener,
    "telnet_commands": telnet_commands,
    "telnet_terminal": telnet_terminal,
    "telnet_offers": telnet_offers,
    "ppp_option": ppp_option,
    "link_layer_names": link_layer_names,
}
