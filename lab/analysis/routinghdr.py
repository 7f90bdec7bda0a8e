"""OSPFv2 and EIGRP message headers: what a routing protocol packet says, as plain data.

Routing daemons speak directly over IP (OSPF is IP protocol 89, EIGRP 88, no TCP or UDP): the header
names the message (an OSPF Hello, a Link State Update; an EIGRP Update, Query, Reply, Hello or Ack) and
the sender's router ID, which is what a student follows to see neighbours form and databases converge.
The functions read ``data[off:end]`` and never raise: a header cut short says so under ``malformed``.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

OSPF_PROTO, EIGRP_PROTO = 89, 88
OSPF_TYPES = {1: "Hello", 2: "Database Description", 3: "Link State Request", 4: "Link State Update",
              5: "Link State Acknowledgment"}
EIGRP_OPCODES = {1: "Update", 2: "Request", 3: "Query", 4: "Reply", 5: "Hello", 6: "IPX SAP", 10: "SIA Query",
                 11: "SIA Reply"}
EIGRP_FLAGS = ((1, "INIT"), (2, "CR"), (4, "RS"), (8, "EOT"))
OSPF_DD_FLAGS = ((4, "I"), (2, "M"), (1, "MS"))

_OSPF = struct.Struct("!BBH4s4sHH").unpack_from  # version, type, length, router ID, area, checksum, autype
_EIGRP = struct.Struct("!BBHIIIHH").unpack_from  # version, opcode, checksum, flags, seq, ack, vrid, AS
_I = struct.Struct("!I").unpack_from
_H = struct.Struct("!H").unpack_from


def _dotted(b: bytes) -> str:
    return ".".join(map(str, b))


def decode_ospf(data: bytes, off: int, end: int) -> dict[str, Any]:
    """The OSPFv2 header at ``data[off:end]`` and the fields of its message that a lab talks about."""
    body = data[off:end]
    out: dict[str, Any] = {"protocol": "OSPF", "len": len(body), "sha1": hashlib.sha1(body).hexdigest()[:16]}
    if len(body) < 24:
        out.update(message="(cut short)", malformed="OSPF header cut short")
        return out
    version, mtype, length, rid, area, _ck, _au = _OSPF(body, 0)
    out.update(version=version, type=mtype, message=OSPF_TYPES.get(mtype, f"type {mtype}"),
               router_id=_dotted(rid), area=_dotted(area))
    if version != 2:
        out["malformed"] = f"OSPF version {version} (expected 2)"
        return out
    end_msg = min(length, len(body)) if length >= 24 else len(body)
    if mtype == 1 and end_msg >= 44:
        out["hello_interval"], out["dead_interval"] = _H(body, 28)[0], _I(body, 32)[0]
        out["dr"], out["bdr"] = _dotted(body[36:40]), _dotted(body[40:44])
        out["neighbors"] = [_dotted(body[o:o + 4]) for o in range(44, end_msg - 3, 4)]
    elif mtype == 2 and end_msg >= 32:
        flags = body[27]
        out["flags"] = "|".join(name for bit, name in OSPF_DD_FLAGS if flags & bit) or "none"
        out["dd_seq"] = _I(body, 28)[0]
        out["lsa_headers"] = max(end_msg - 32, 0) // 20
    elif mtype == 3:
        out["requests"] = max(end_msg - 24, 0) // 12
    elif mtype == 4 and end_msg >= 28:
        out["lsas"] = _I(body, 24)[0]
    elif mtype == 5:
        out["lsa_headers"] = max(end_msg - 24, 0) // 20
    return out


def decode_eigrp(data: bytes, off: int, end: int) -> dict[str, Any]:
    """The EIGRP header at ``data[off:end]``; a Hello that acknowledges a sequence number is an Ack (FRR's
    Acks carry the Hello's parameter TLVs, so the length does not tell them apart)."""
    body = data[off:end]
    out: dict[str, Any] = {"protocol": "EIGRP", "len": len(body), "sha1": hashlib.sha1(body).hexdigest()[:16]}
    if len(body) < 20:
        out.update(message="(cut short)", malformed="EIGRP header cut short")
        return out
    version, opcode, _ck, flags, seq, ack, _vrid, asn = _EIGRP(body, 0)
    message = EIGRP_OPCODES.get(opcode, f"opcode {opcode}")
    if opcode == 5 and ack:  # RFC 7868: an Ack is a Hello (unicast) with a non-zero acknowledgment number
        message = "Ack"
    out.update(version=version, type=opcode, message=message, seq=seq, ack=ack, asn=asn,
               flags="|".join(name for bit, name in EIGRP_FLAGS if flags & bit) or "none")
    return out


def describe(info: dict[str, Any]) -> str:
    """``OSPF Hello (router 198.18.0.1, area 0.0.0.0, neighbours 198.18.0.2)`` — one line for a role."""
    proto, message = info.get("protocol", "?"), info.get("message", "?")
    if "router_id" in info:
        extra = [f"router {info['router_id']}"]
        if info.get("type") == 1 and "neighbors" in info:
            seen = ", ".join(info["neighbors"]) or "none yet"
            extra.append(f"neighbours seen: {seen}")
        elif info.get("type") == 2:
            extra.append(f"flags {info.get('flags')}, {info.get('lsa_headers', 0)} LSA header(s)")
        elif info.get("type") == 3:
            extra.append(f"{info.get('requests', 0)} LSA(s) requested")
        elif info.get("type") == 4:
            extra.append(f"{info.get('lsas', 0)} LSA(s)")
        elif info.get("type") == 5:
            extra.append(f"{info.get('lsa_headers', 0)} LSA(s) acknowledged")
        return f"{proto} {message} ({'; '.join(extra)})"
    if proto == "EIGRP" and "seq" in info:
        extra = [f"AS {info['asn']}"]
        if info.get("flags") != "none":
            extra.append(f"flags {info['flags']}")
        if info.get("seq"):
            extra.append(f"seq {info['seq']}")
        if info.get("ack"):
            extra.append(f"acknowledges seq {info['ack']}")
        return f"{proto} {message} ({', '.join(extra)})"
    return f"{proto} {message}"
