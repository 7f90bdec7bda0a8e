"""Application fields decoded from payload bytes (SNMP BER, Telnet commands) and IGMP records: exact
values from hand-built messages, and hostile or cut messages that yield what could be read."""

from __future__ import annotations

import socket
import struct

from lab.analysis.appfields import brief, ftp_fields, snmp_fields, telnet_fields
from lab.analysis.decode import igmp_fields

# SNMPv2c get-request, community "public", request-id 0x0a0b0c0d, varbind sysName.0 = NULL
GET = bytes.fromhex("302902010104067075626c6963a01c02040a0b0c0d020100020100300e300c06082b060102010105000500")


def test_snmp_get_request_is_decoded() -> None:
    fields = snmp_fields(GET)
    assert fields == {
        "version": "v2c",
        "community": "public",
        "pdu": "get-request",
        "request_id": 0x0A0B0C0D,
        "error_status": 0,
        "error_index": 0,
        "error": "noError",
        "varbinds": [{"oid": "1.3.6.1.2.1.1.5.0", "type": "NULL", "value": None}],
    }
    assert brief("snmp", fields) == "v2c get-request community 'public': 1.3.6.1.2.1.1.5.0"


def test_snmp_response_values_are_typed() -> None:
    # response with sysUpTime (TimeTicks 0x1234) and sysName "lab"
    vb1 = bytes.fromhex("300e06082b0601020101030043021234")
    vb2 = bytes.fromhex("300f06082b06010201010500") + b"\x04\x03lab"
    vbs = b"\x30" + bytes([len(vb1) + len(vb2)]) + vb1 + vb2
    pdu_body = bytes.fromhex("020101020100020100") + vbs
    pdu = b"\xa2" + bytes([len(pdu_body)]) + pdu_body
    body = bytes.fromhex("020101040370756200")[:-1] + pdu
    msg = b"\x30" + bytes([len(body)]) + body
    fields = snmp_fields(msg)
    assert fields["pdu"] == "response" and fields["community"] == "pub"
    assert fields["varbinds"] == [
        {"oid": "1.3.6.1.2.1.1.3.0", "type": "TimeTicks", "value": 0x1234},
        {"oid": "1.3.6.1.2.1.1.5.0", "type": "OCTET STRING", "value": "lab"},
    ]


def test_cut_or_hostile_snmp_says_so() -> None:
    assert snmp_fields(GET[:20]) == {"error": "malformed: value cut short"}
    assert snmp_fields(b"\x30\x84\xff\xff\xff\xff") == {"error": "malformed: value cut short"}
    assert snmp_fields(b"") == {"error": "malformed: element cut short"}
    assert snmp_fields(bytes.fromhex("3003020103"))["version"] == "v3"


def test_telnet_negotiation_and_data() -> None:
    fields = telnet_fields(b"\xff\xfd\x18\xff\xfb\x01hello\xff\xff\xff\xfa\x18\x00XTERM\xff\xf0")
    assert fields == {
        "commands": ["DO TERMINAL-TYPE", "WILL ECHO", "SB TERMINAL-TYPE IS 'XTERM'"],
        "data_bytes": 6,
    }
    assert telnet_fields(b"\xff\xfd") == {"commands": ["DO (cut short)"], "data_bytes": 0}
    assert brief("telnet", telnet_fields(b"login: ")) == "data only, 7 bytes"


def test_igmpv3_report_records() -> None:
    join = struct.pack("!BBH4s", 4, 0, 0, socket.inet_aton("239.1.2.3"))
    leave = struct.pack("!BBH4s", 3, 0, 1, socket.inet_aton("239.9.9.9")) + socket.inet_aton("198.18.0.9")
    msg = struct.pack("!BBHHH", 0x22, 0, 0, 0, 2) + join + leave
    fields = igmp_fields(msg, 0, len(msg))
    assert fields == {
        "type": 0x22,
        "name": "v3 membership report",
        "group": None,
        "records": [
            {"type": 4, "name": "CHANGE_TO_EXCLUDE_MODE", "group": "239.1.2.3", "sources": []},
            {"type": 3, "name": "CHANGE_TO_INCLUDE_MODE", "group": "239.9.9.9", "sources": ["198.18.0.9"]},
        ],
    }
    # a record count that promises more than the message holds: the records that fit, no more
    cut = struct.pack("!BBHHH", 0x22, 0, 0, 0, 500) + join
    assert len(igmp_fields(cut, 0, len(cut))["records"]) == 1
    v2 = struct.pack("!BBH4s", 0x17, 0, 0, socket.inet_aton("239.1.2.3"))
    assert igmp_fields(v2, 0, 8) == {"type": 0x17, "name": "v2 leave group", "group": "239.1.2.3"}


def test_ftp_control_lines() -> None:
    fields = ftp_fields(b"227 Entering passive mode (198,18,0,2,157,211).\r\n")
    assert fields == {"lines": ["227 Entering passive mode (198,18,0,2,157,211)."], "complete": True}
    assert brief("ftp", ftp_fields(b"USER student\r\nPASS x")) == "USER student | PASS x ..."
