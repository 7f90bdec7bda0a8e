"""The classic 12-step flow: defined once, and each call of a run tagged with its step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.tracing.steps import STEPS, classic_steps
from tests.helpers.builders import call

if TYPE_CHECKING:
    from lab.records import CallRecord


def c(cid: int, sock: str, name: str, **fields: Any) -> CallRecord:
    return call(name, id=cid, sock=sock, t_start_ns=cid, t_end_ns=cid + 1, **fields)


def test_the_table_is_twelve_numbered_steps_seven_server_five_client() -> None:
    assert [s[0] for s in STEPS] == list(range(1, 13))
    assert sum(s[1] == "server" for s in STEPS) == 7 and sum(s[1] == "client" for s in STEPS) == 5


def test_an_echo_run_is_tagged_in_classic_order() -> None:
    calls = [
        c(1, "s", "socket"), c(2, "s", "setsockopt"), c(3, "s", "bind"), c(4, "s", "listen"),
        c(5, "s", "accept", ret={"fd": 5, "sock": "a"}),
        c(6, "c", "socket"), c(7, "c", "connect"), c(8, "c", "sendall"), c(9, "a", "recv"),
        c(10, "a", "sendall"), c(11, "c", "recv"), c(12, "c", "close"), c(13, "a", "close"),
        c(14, "c", "fileno"),
    ]
    steps = classic_steps(calls)
    assert steps == {1: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 10: 9, 11: 10, 12: 11, 13: 12}


def test_udp_calls_get_the_udp_flow() -> None:
    calls = [c(1, "s", "socket", type="SOCK_DGRAM"), c(2, "s", "bind", type="SOCK_DGRAM"),
             c(3, "s", "recvfrom", type="SOCK_DGRAM"), c(4, "k", "socket", type="SOCK_DGRAM"),
             c(5, "k", "sendto", type="SOCK_DGRAM"), c(6, "s", "sendto", type="SOCK_DGRAM"),
             c(7, "k", "recvfrom", type="SOCK_DGRAM")]
    assert classic_steps(calls) == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7}


def test_a_ping_socket_is_no_udp() -> None:
    ping = {"family": "AF_INET", "type": "SOCK_DGRAM", "proto": 1}  # IPPROTO_ICMP: a ping socket
    calls = [c(1, "p", "socket", type="SOCK_DGRAM", args=ping), c(2, "p", "sendto", type="SOCK_DGRAM"),
             c(3, "p", "recvfrom", type="SOCK_DGRAM")]
    assert classic_steps(calls) == {}
