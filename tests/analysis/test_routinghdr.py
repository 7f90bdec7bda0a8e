"""OSPFv2 and EIGRP headers decoded from bytes, and their packets explained by the daemon's send call."""

from __future__ import annotations

import struct

from lab.analysis.decode import Decoder
from lab.analysis.routinghdr import decode_eigrp, decode_ospf, describe
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.attribution import call as call_record
from tests.helpers.attribution import packet_record
from tests.helpers.builders import ip as ip_header


def _ospf(mtype: int, body: bytes, rid: bytes = bytes([1, 1, 1, 1])) -> bytes:
    return struct.pack("!BBH4s4sHH", 2, mtype, 24 + len(body), rid, bytes(4), 0, 0) + bytes(8) + body


def test_ospf_hello_lists_neighbours() -> None:
    body = bytes([255, 255, 255, 0]) + struct.pack("!HBBI", 1, 2, 1, 4) + bytes(8) + bytes([2, 2, 2, 2])
    info = decode_ospf(_ospf(1, body), 0, len(_ospf(1, body)))
    assert info["message"] == "Hello" and info["router_id"] == "1.1.1.1" and info["area"] == "0.0.0.0"
    assert (info["hello_interval"], info["dead_interval"], info["neighbors"]) == (1, 4, ["2.2.2.2"])
    assert describe(info) == "OSPF Hello (router 1.1.1.1; neighbours seen: 2.2.2.2)"


def test_ospf_dd_update_ack() -> None:
    dd = _ospf(2, struct.pack("!HBBI", 1500, 2, 7, 99))
    assert decode_ospf(dd, 0, len(dd))["flags"] == "I|M|MS"
    lsu = _ospf(4, struct.pack("!I", 3) + bytes(60))
    assert decode_ospf(lsu, 0, len(lsu))["lsas"] == 3
    ack = _ospf(5, bytes(40))
    text = describe(decode_ospf(ack, 0, len(ack)))
    assert text == "OSPF Link State Acknowledgment (router 1.1.1.1; 2 LSA(s) acknowledged)"
    short = decode_ospf(lsu, 0, 10)
    assert short["malformed"] == "OSPF header cut short" and short["len"] == 10


def test_eigrp_messages() -> None:
    hello = struct.pack("!BBHIIIHH", 2, 5, 0, 0, 0, 0, 0, 1) + bytes(12)
    assert decode_eigrp(hello, 0, len(hello))["message"] == "Hello"
    ack = struct.pack("!BBHIIIHH", 2, 5, 0, 0, 0, 7, 0, 1) + bytes(20)  # FRR's Acks keep the Hello's TLVs
    info = decode_eigrp(ack, 0, len(ack))
    assert info["message"] == "Ack" and describe(info) == "EIGRP Ack (AS 1, acknowledges seq 7)"
    update = struct.pack("!BBHIIIHH", 2, 1, 0, 1 | 8, 5, 0, 0, 1) + bytes(20)
    info = decode_eigrp(update, 0, len(update))
    assert (info["message"], info["flags"], info["seq"]) == ("Update", "INIT|EOT", 5)


def _frame(proto: int, payload: bytes, ipid: int) -> bytes:
    eth = bytes.fromhex("01005e000005" "020000000101" "0800")
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), ipid, 0, 1, proto, 0,
                     bytes([198, 18, 1, 254]), bytes([224, 0, 0, 5]))
    return eth + ip + payload


def test_decoded_frame_is_attributed_to_the_daemons_sendmsg() -> None:
    payload = _ospf(1, bytes(20))
    p = Decoder().decode(1, _frame(89, payload, 0x2E15), 0)
    assert p.l4 == "ospf" and p.routing is not None and p.routing["message"] == "Hello"
    sha = p.routing["sha1"]
    dgram = {"peer": ["224.0.0.5", 0], "len": len(payload), "sha1": sha, "raw": True,
             "ip": {"src": "198.18.1.254", "dst": "224.0.0.5", "id": 0x2E15, "proto": 89}}
    raw = {"program": "ospfd", "type": "SOCK_RAW", "family": "AF_INET"}
    call = call_record(7, "r1", "1:13:1", "sendmsg", 1_000, t_end_ns=2_000, dgram=dgram, **raw)
    recv = call_record(8, "r2", "2:13:1", "recvmsg", 3_000, t_end_ns=3_500,
                       dgram={**dgram, "peer": ["198.18.1.254", 0]}, **raw)
    other = call_record(9, "r1", "1:13:1", "sendmsg", 1_000, t_end_ns=2_000,
                        dgram={**dgram, "ip": {**dgram["ip"], "id": 1}}, **raw)
    att = Attributor([call, recv, other])
    rec = packet_record(number=1, ts_ns=2_500, interface="r1-eth1", routing=p.routing, role="ospf",
                        ip=ip_header("198.18.1.254", "224.0.0.5", 89, ip_id=0x2E15, ttl=1))
    cause = att.cause(rec)
    assert cause["source"] == "call" and cause["calls"] == [7] and cause["consumed_by"] == [8]
    assert cause["text"] == ("ospfd on r1 sendmsg() #7: OSPF Hello to 224.0.0.5; received by ospfd on r2 "
                             "recvmsg() #8")
    again = att.cause({**rec, "number": 2, "ts_ns": 2_600})  # the same bytes again: no call left for them
    assert again["source"] == "inferred" and "no traced call sent it" in again["text"]


def test_a_hello_nobody_read_is_not_given_the_next_hellos_reading() -> None:
    """Hellos repeat the same bytes every second: a reading one interval later belongs to the next one."""
    sha = "0123456789abcdef"
    dgram = {"peer": ["224.0.0.10", 0], "len": 40, "sha1": sha, "raw": True,
             "ip": {"src": "198.18.1.254", "dst": "224.0.0.10", "id": 0, "proto": 88}}
    raw = {"program": "eigrpd", "type": "SOCK_RAW", "family": "AF_INET"}
    sends = [call_record(i, "r1", "1:12:1", "sendmsg", t, t_end_ns=t + 10, dgram=dgram, **raw)
             for i, t in ((1, 0), (2, 1_000_000_000))]
    late = call_record(3, "r2", "2:12:1", "recvmsg", 1_000_050_000, t_end_ns=1_000_060_000,
                       dgram={**dgram, "peer": ["198.18.1.254", 0]}, **raw)
    att = Attributor([*sends, late])

    def hello(n: int, ts: int) -> dict:
        return packet_record(number=n, ts_ns=ts, interface="r1-eth1", role="eigrp",
                             routing={"protocol": "EIGRP", "message": "Hello", "sha1": sha},
                             ip=ip_header("198.18.1.254", "224.0.0.10", 88, ip_id=777, ttl=1))

    first = att.cause(hello(1, 100_000))
    assert first["calls"] == [1] and "received by" not in first["text"]
    second = att.cause(hello(2, 1_000_010_000))
    assert second["calls"] == [2] and second["consumed_by"] == [3]
