"""Fields a student is asked about, decoded from one packet: SNMP, Telnet, FTP, PPP's LCP/IPCP, SLIP.

- SNMP (RFC 3416, BER): version, community, PDU type, request id, error status and the variable
  bindings (OID and typed value) of v1/v2c messages; a v3 message is named, its scoped PDU may be
  encrypted and is not decoded.
- Telnet (RFC 854/855): the option negotiation commands (IAC WILL/WONT/DO/DONT option, subnegotiations)
  and how many bytes of data surround them.
- FTP control (RFC 959): the command and reply lines of a control-connection segment.
- PPP link and IP control (RFC 1661, 1332): code, identifier, Configure options (MRU, magic number,
  IP address, Van Jacobson compression — CSLIP's header compression, negotiated over PPP).

Both are bounded by the payload (a cut or hostile payload yields what could be read plus ``error``),
and they run only for packets the ports name SNMP, Telnet or FTP (the fast path leaves those to the general
path, so its output stays the general path's).
"""

from __future__ import annotations

from typing import Any

SNMP_VERSIONS = {0: "v1", 1: "v2c", 3: "v3"}
SNMP_PDUS = {
    0xA0: "get-request",
    0xA1: "get-next-request",
    0xA2: "response",
    0xA3: "set-request",
    0xA4: "trap",
    0xA5: "get-bulk-request",
    0xA6: "inform-request",
    0xA7: "snmpV2-trap",
    0xA8: "report",
}
SNMP_TYPES = {
    0x02: "INTEGER",
    0x04: "OCTET STRING",
    0x05: "NULL",
    0x06: "OBJECT IDENTIFIER",
    0x40: "IpAddress",
    0x41: "Counter32",
    0x42: "Gauge32",
    0x43: "TimeTicks",
    0x44: "Opaque",
    0x46: "Counter64",
    0x80: "noSuchObject",
    0x81: "noSuchInstance",
    0x82: "endOfMibView",
}
SNMP_ERRORS = {0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr"}
MAX_VARBINDS = 64


class BerError(ValueError):
    """The payload is not the BER structure SNMP promises."""


def _tlv(data: bytes, off: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the BER element at ``off``, within ``end``."""
    if off + 2 > end:
        raise BerError("element cut short")
    tag, first = data[off], data[off + 1]
    off += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 4 or off + n > end:
            raise BerError("bad length")
        length = int.from_bytes(data[off : off + n], "big")
        off += n
    else:
        length = first
    if off + length > end:
        raise BerError("value cut short")
    return tag, off, off + length


def _int(data: bytes, start: int, stop: int) -> int:
    return int.from_bytes(data[start:stop], "big", signed=True) if stop > start else 0


def _oid(data: bytes, start: int, stop: int) -> str:
    if stop <= start:
        return ""
    parts: list[int] = []
    value = 0
    for b in data[start:stop]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    first = parts[0] if parts else 0
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(x) for x in head + parts[1:])


def _value(data: bytes, tag: int, start: int, stop: int) -> Any:
    if tag == 0x02:
        return _int(data, start, stop)
    if tag in (0x41, 0x42, 0x43, 0x46):
        return int.from_bytes(data[start:stop], "big")
    if tag == 0x06:
        return _oid(data, start, stop)
    if tag == 0x40 and stop - start == 4:
        return ".".join(str(b) for b in data[start:stop])
    if tag == 0x04:
        raw = data[start:stop]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex(":")
        return text if text.isprintable() else raw.hex(":")
    return None


def snmp_fields(data: bytes) -> dict[str, Any]:
    """The SNMP message in ``data`` (a UDP payload), as far as it could be read."""
    out: dict[str, Any] = {}
    try:
        tag, off, end = _tlv(data, 0, len(data))
        if tag != 0x30:
            raise BerError("not a SEQUENCE")
        tag, s, e = _tlv(data, off, end)
        version = _int(data, s, e)
        out["version"] = SNMP_VERSIONS.get(version, f"version {version}")
        if version == 3:
            out["pdu"] = "scoped PDU (SNMPv3: may be encrypted, not decoded)"
            return out
        tag, s, e = _tlv(data, e, end)
        out["community"] = _value(data, 0x04, s, e)
        tag, s, pdu_end = _tlv(data, e, end)
        out["pdu"] = SNMP_PDUS.get(tag, f"PDU 0x{tag:02x}")
        if tag == 0xA4:  # SNMPv1 trap: enterprise, agent address, generic/specific, time: not decoded
            return out
        fields = []
        for _ in range(3):
            t, s2, e2 = _tlv(data, s, pdu_end)
            fields.append(_int(data, s2, e2))
            s = e2
        out["request_id"], out["error_status"], out["error_index"] = fields
        out["error"] = SNMP_ERRORS.get(fields[1], str(fields[1])) if tag != 0xA5 else None
        t, s, vb_end = _tlv(data, s, pdu_end)
        varbinds = []
        while s < vb_end and len(varbinds) < MAX_VARBINDS:
            t, vs, ve = _tlv(data, s, vb_end)
            t_oid, os_, oe = _tlv(data, vs, ve)
            t_val, v_s, v_e = _tlv(data, oe, ve)
            varbinds.append(
                {
                    "oid": _oid(data, os_, oe),
                    "type": SNMP_TYPES.get(t_val, f"tag 0x{t_val:02x}"),
                    "value": _value(data, t_val, v_s, v_e),
                }
            )
            s = ve
        out["varbinds"] = varbinds
    except BerError as err:
        out["error"] = f"malformed: {err}"
    return out


TELNET_COMMANDS = {251: "WILL", 252: "WONT", 253: "DO", 254: "DONT"}
TELNET_OTHER = {
    240: "SE", 241: "NOP", 242: "DM", 243: "BRK", 244: "IP", 245: "AO", 246: "AYT", 247: "EC",
    248: "EL", 249: "GA", 250: "SB",
}  # fmt: skip
TELNET_OPTIONS = {
    0: "BINARY", 1: "ECHO", 3: "SUPPRESS-GO-AHEAD", 5: "STATUS", 6: "TIMING-MARK", 24: "TERMINAL-TYPE",
    31: "NAWS", 32: "TERMINAL-SPEED", 33: "TOGGLE-FLOW-CONTROL", 34: "LINEMODE", 35: "X-DISPLAY-LOCATION",
    36: "OLD-ENVIRON", 37: "AUTHENTICATION", 38: "ENCRYPT", 39: "NEW-ENVIRON",
}  # fmt: skip
MAX_COMMANDS = 64


def _option(code: int) -> str:
    return TELNET_OPTIONS.get(code, f"option {code}")


def telnet_fields(data: bytes) -> dict[str, Any]:
    """The Telnet commands in ``data`` (a TCP payload), in order, and the count of data bytes."""
    commands: list[str] = []
    plain = 0
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b != 255:
            plain += 1
            i += 1
            continue
        if i + 1 >= n:
            commands.append("IAC (cut short)")
            break
        cmd = data[i + 1]
        if cmd == 255:  # an escaped 0xff data byte
            plain += 1
            i += 2
        elif cmd in TELNET_COMMANDS:
            if i + 2 >= n:
                commands.append(f"{TELNET_COMMANDS[cmd]} (cut short)")
                break
            commands.append(f"{TELNET_COMMANDS[cmd]} {_option(data[i + 2])}")
            i += 3
        elif cmd == 250:  # SB option ... IAC SE
            stop = data.find(b"\xff\xf0", i + 2)
            stop = n if stop < 0 else stop
            opt = _option(data[i + 2]) if i + 2 < n else "?"
            body = data[i + 3 : stop]
            what = {0: " IS", 1: " SEND"}.get(body[0], "") if body else ""
            text = body[1:].decode("ascii", "replace") if what == " IS" and len(body) > 1 else ""
            commands.append(f"SB {opt}{what}{' ' + repr(text) if text else ''}")
            i = stop + 2
        else:
            commands.append(TELNET_OTHER.get(cmd, f"IAC {cmd}"))
            i += 2
        if len(commands) >= MAX_COMMANDS:
            break
    return {"commands": commands, "data_bytes": plain}


PPP_CODES = {
    1: "Configure-Request", 2: "Configure-Ack", 3: "Configure-Nak", 4: "Configure-Reject",
    5: "Terminate-Request", 6: "Terminate-Ack", 7: "Code-Reject", 8: "Protocol-Reject", 9: "Echo-Request",
    10: "Echo-Reply", 11: "Discard-Request",
}  # fmt: skip
LCP_OPTIONS = {1: "MRU", 2: "ACCM", 3: "Auth-Protocol", 4: "Quality-Protocol", 5: "Magic-Number",
               7: "Protocol-Field-Compression", 8: "Address-Control-Field-Compression"}  # fmt: skip
IPCP_OPTIONS = {2: "IP-Compression-Protocol", 3: "IP-Address", 129: "Primary-DNS", 131: "Secondary-DNS"}
MAX_PPP_OPTIONS = 32


def _ppp_option(protocol: str, otype: int, value: bytes) -> dict[str, Any]:
    names = LCP_OPTIONS if protocol == "LCP" else IPCP_OPTIONS if protocol == "IPCP" else {}
    out: dict[str, Any] = {"type": names.get(otype, f"option {otype}")}
    if protocol == "IPCP" and otype in (3, 129, 131) and len(value) == 4:
        out["value"] = ".".join(str(b) for b in value)
    elif protocol == "IPCP" and otype == 2 and len(value) >= 2:
        proto = int.from_bytes(value[:2], "big")
        out["value"] = "Van Jacobson (0x002d)" if proto == 0x002D else f"0x{proto:04x}"
        if proto == 0x002D and len(value) >= 4:
            out["max_slot_id"], out["comp_slot_id"] = value[2], value[3]
    elif protocol == "LCP" and otype == 3 and len(value) >= 2:
        proto = int.from_bytes(value[:2], "big")
        out["value"] = {0xC023: "PAP", 0xC223: "CHAP"}.get(proto, f"0x{proto:04x}")
    elif len(value) in (2, 4):
        out["value"] = int.from_bytes(value, "big") if otype != 5 else value.hex()
    elif value:
        out["value"] = value.hex()
    return out


def ppp_control_fields(protocol: str, data: bytes, off: int) -> dict[str, Any]:
    """An LCP/IPCP packet (RFC 1661/1332): code, identifier, and the options of Configure packets."""
    out: dict[str, Any] = {"protocol": protocol}
    if len(data) - off < 4:
        out["error"] = "cut short"
        return out
    code, ident, length = data[off], data[off + 1], int.from_bytes(data[off + 2 : off + 4], "big")
    out.update(code=PPP_CODES.get(code, f"code {code}"), id=ident)
    end = min(off + max(length, 4), len(data))
    if code in (1, 2, 3, 4):
        options, i = [], off + 4
        while i + 2 <= end and len(options) < MAX_PPP_OPTIONS:
            otype, olen = data[i], data[i + 1]
            if olen < 2 or i + olen > end:
                out["error"] = "option cut short"
                break
            options.append(_ppp_option(protocol, otype, data[i + 2 : i + olen]))
            i += olen
        out["options"] = options
    elif code in (9, 10) and end - off >= 8:
        out["magic"] = data[off + 4 : off + 8].hex()
    return out


def brief(kind: str, fields: dict[str, Any]) -> str:
    """One line of decoded fields for summaries and role texts (which already name the protocol)."""
    if kind == "ppp":
        opts = ", ".join(
            f"{o['type']}={o['value']}" if "value" in o else o["type"] for o in fields.get("options", [])
        )
        return f"{fields.get('protocol')} {fields.get('code')} id {fields.get('id')}" + (
            f": {opts}" if opts else ""
        )
    if kind == "slip":
        return f"{fields.get('direction')}, {fields.get('type')}"
    if kind == "snmp":
        if "pdu" not in fields:
            return f"({fields.get('error', 'not decoded')})"
        head = f"{fields.get('version')} {fields['pdu']}"
        if fields.get("community") is not None:
            head += f" community {fields['community']!r}"
        if fields["pdu"] == "response" and fields.get("error"):
            head += f" ({fields['error']})"
        vbs = fields.get("varbinds", [])
        shown = [vb["oid"] if vb.get("value") is None else f"{vb['oid']} = {vb['value']!r}" for vb in vbs[:3]]
        return head + (": " + ", ".join(shown) if shown else "") + (", ..." if len(vbs) > 3 else "")
    if kind == "ftp":
        return " | ".join(fields["lines"]) + ("" if fields["complete"] else " ...")
    commands, data = fields["commands"], fields["data_bytes"]  # telnet
    shown = ", ".join(commands[:6]) + (", ..." if len(commands) > 6 else "")
    if not commands:
        return f"data only, {data} bytes"
    return shown + (f" + {data} data bytes" if data else "")


MAX_FTP_LINES = 16


def ftp_fields(data: bytes) -> dict[str, Any]:
    """The FTP control lines in ``data`` (commands or numbered replies, CRLF-terminated text)."""
    text = data.decode("latin-1")
    lines = [line[:200] for line in text.split("\r\n") if line][:MAX_FTP_LINES]
    return {"lines": lines, "complete": text.endswith("\r\n")}
