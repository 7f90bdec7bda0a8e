"""The dynamic routing labs' checks and answers on crafted records: each can fail, and says why."""

from __future__ import annotations

from lab.labs.routingchecks import (
    adjacency,
    route_carrier,
    routes_before_traffic,
    routing_field,
    routing_messages,
)
from lab.records import PacketRecord
from tests.helpers.builders import cause
from tests.helpers.labrecords import T0, C, Capture, S, call

CALLS = [call(1, "sendmsg", node="r1"), call(2, "sendmsg", node="r2"), call(3, "connect", node="h1")]


def _ospf(n: int, message: str, by: int | None, **fields: object) -> PacketRecord:
    """OSPF message frame ``n`` (at n microseconds), sent by call ``by`` (None: not attributed)."""
    why = cause("call", "ospf-send", calls=[by]) if by else cause("inferred", "ospf-send", calls=[])
    header = {"protocol": "OSPF", "message": message, "router_id": f"r{by}", **fields}
    return Capture(first=n).routing(f"198.18.1.{n}", header, cause=why, at=n * 1e-6)


def _syn(n: int, by: int = 3) -> PacketRecord:
    """A SYN, frame ``n`` at n microseconds, sent by call ``by``."""
    why = cause("call", "syn-connect", calls=[by])
    return Capture(first=n).tcp(C, S, "SYN", role="syn", at=n * 1e-6, cause=why)


def test_routing_messages() -> None:
    packets = [_ospf(1, "Hello", 1), _ospf(2, "Hello", 2), _ospf(3, "Link State Update", 1, lsas=2)]
    ok, detail = routing_messages(packets, CALLS, "OSPF", ["Hello", "Link State Update"])
    assert ok and "Hello x2 (first frame 1)" in detail
    ok, detail = routing_messages(packets, CALLS, "OSPF", ["Hello", "Database Description"])
    assert not ok and "Database Description (0)" in detail
    ok, detail = routing_messages([*packets, _ospf(4, "Hello", None)], CALLS, "OSPF", ["Hello"])
    assert not ok and "Hello: 1 not attributed" in detail
    assert routing_messages([], CALLS, "EIGRP", ["Hello"]) == (False, "no EIGRP packet in the capture")


def test_adjacency() -> None:
    packets = [_ospf(1, "Hello", 1, neighbors=["r2"]), _ospf(2, "Hello", 2, neighbors=[])]
    ok, detail = adjacency(packets, CALLS, "OSPF", routers=2)
    assert not ok and "sent by 1 router(s) (r1)" in detail
    packets.append(_ospf(3, "Hello", 2, neighbors=["r1"]))
    ok, detail = adjacency(packets, CALLS, "OSPF", routers=2)
    assert ok and detail == "OSPF Hellos listing a neighbour sent by r1, r2"


def test_routes_before_traffic() -> None:
    routes = [{"ts_ns": T0 + 1500, "node": "r1", "action": "add", "proto": "ospf"},
              {"ts_ns": T0 + 2500, "node": "r2", "action": "add", "proto": "ospf"}]
    ok, detail = routes_before_traffic([_syn(3)], CALLS, "h1", routes=routes)
    assert ok and "500 " not in detail and "frame 3" in detail
    ok, detail = routes_before_traffic([_syn(2)], CALLS, "h1", routes=routes)
    assert not ok and "left before r2" in detail
    assert not routes_before_traffic([_syn(3)], CALLS, "h1", routes=[])[0]
    kernel_only = [{**r, "proto": "kernel"} for r in routes]
    assert not routes_before_traffic([_syn(3)], CALLS, "h1", routes=kernel_only)[0]
    assert not routes_before_traffic([_syn(3, by=1)], CALLS, "h1", routes=routes)[0]  # no packet of h1


def test_answers() -> None:
    packets = [_ospf(1, "Hello", 2, hello_interval=10), _ospf(2, "Hello", 1, hello_interval=1),
               _ospf(3, "Link State Update", 1, lsas=1)]
    assert routing_field(packets, CALLS, "OSPF", "Hello", "hello_interval", node="r1") == 1
    assert routing_field(packets, CALLS, "OSPF", "Hello", "hello_interval") == 10
    assert routing_field(packets, CALLS, "OSPF", "Hello", "hello_interval", node="r9") is None
    assert route_carrier(packets, CALLS, "OSPF") == "Link State Update"
    assert route_carrier(packets[:2], CALLS, "OSPF") is None
