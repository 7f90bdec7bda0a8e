"""The classic 12-step TCP client/server flow, defined once, and which recorded call is which step.

The flow the course teaches (W. R. Stevens, UNIX Network Programming, the "TCP client/server" figure;
the same order as the Python socket HOWTO): seven calls on the server, five on the client, numbered in
the order the figure draws them, top to bottom:

====  ======  ===========  ==============================================================
step  side    call         what it does
====  ======  ===========  ==============================================================
 1    server  socket()     create the listening endpoint (nothing on the wire)
 2    server  bind()       give it the server's address and port (nothing on the wire)
 3    server  listen()     make it passive: the kernel now answers SYNs (nothing on the wire)
 4    server  accept()     wait for a finished connection; returns a new socket
 5    client  socket()     create the client's endpoint
 6    client  connect()    three-way handshake: SYN, SYN-ACK, ACK (connect_ex() too)
 7    client  send()       the request: data segment(s) to the server (sendall(), sendto())
 8    server  recv()       read the request (from the socket accept() returned)
 9    server  send()       the reply: data segment(s) back
10    client  recv()       read the reply
11    client  close()      no more data from the client: FIN (shutdown() too)
12    server  close()      the server's FIN; the teardown completes
====  ======  ===========  ==============================================================

``STEPS`` is that table; ``classic_steps(calls)`` tags the calls of a run with it: the listening socket and
the sockets its accept() returned are the server's, a socket that called connect() is the client's. Calls
outside the flow (setsockopt, settimeout, fileno, getsockname...) get no step. UDP has no 12-step flow
(no listen, accept or connect): its datagram calls are tagged with the steps of ``UDP_STEPS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.records import CallRecord

STEPS: tuple[tuple[int, str, str, str], ...] = (
    (1, "server", "socket()", "create the listening endpoint (nothing on the wire)"),
    (2, "server", "bind()", "give it the server's address and port (nothing on the wire)"),
    (3, "server", "listen()", "make it passive: the kernel now answers SYNs (nothing on the wire)"),
    (4, "server", "accept()", "wait for a finished connection; returns a new socket"),
    (5, "client", "socket()", "create the client's endpoint"),
    (6, "client", "connect()", "three-way handshake: SYN, SYN-ACK, ACK"),
    (7, "client", "send()", "the request: data segment(s) to the server"),
    (8, "server", "recv()", "read the request (from the socket accept() returned)"),
    (9, "server", "send()", "the reply: data segment(s) back"),
    (10, "client", "recv()", "read the reply"),
    (11, "client", "close()", "no more data from the client: FIN"),
    (12, "server", "close()", "the server's FIN; the teardown completes"),
)

UDP_STEPS: tuple[tuple[int, str, str, str], ...] = (
    (1, "server", "socket(SOCK_DGRAM)", "create an endpoint (nothing on the wire)"),
    (2, "server", "bind()", "attach it to a port (nothing on the wire)"),
    (3, "server", "recvfrom()", "wait for a datagram"),
    (4, "client", "socket(SOCK_DGRAM)", "create an endpoint"),
    (5, "client", "sendto()", "one datagram, no handshake"),
    (6, "server", "sendto()", "one datagram back to the sender's address"),
    (7, "client", "recvfrom()", "read the reply"),
    (8, "both", "close()", "nothing on the wire: there is no connection to tear down"),
)

SENDS = ("send", "sendall", "sendto", "sendmsg", "write", "writev", "sendmmsg", "sendfile")
READS = ("recv", "read", "readv", "makefile-read")
CLOSES = ("close", "shutdown")
# (side, call family) -> step, for each flow
_TCP = {("server", "socket"): 1, ("server", "bind"): 2, ("server", "listen"): 3, ("server", "accept"): 4,
        ("client", "socket"): 5, ("client", "connect"): 6, ("client", "send"): 7, ("server", "recv"): 8,
        ("server", "send"): 9, ("client", "recv"): 10, ("client", "close"): 11, ("server", "close"): 12}
_UDP = {("server", "socket"): 1, ("server", "bind"): 2, ("server", "recv"): 3, ("client", "socket"): 4,
        ("client", "send"): 5, ("server", "send"): 6, ("client", "recv"): 7, ("server", "close"): 8,
        ("client", "close"): 8}


def _family(name: str) -> str | None:
    if name in ("socket", "bind", "listen"):
        return name
    if name in ("accept", "accept4"):
        return "accept"
    if name in ("connect", "connect_ex"):
        return "connect"
    if name.startswith(SENDS):
        return "send"
    if name.startswith(READS):
        return "recv"
    if name in CLOSES:
        return "close"
    return None


def _sides(calls: list[CallRecord]) -> dict[str, str]:
    """Socket id -> "server" or "client": listening sockets and what they accepted are the server's."""
    side: dict[str, str] = {}
    for c in calls:
        sid, name = c["sock"], c["call"]
        if sid is None:
            continue
        if name == "listen" and not c["error"]:
            side[str(sid)] = "server"
        elif name in ("accept", "accept4") and isinstance(c["ret"], dict) and c["ret"].get("sock"):
            side[str(c["ret"]["sock"])] = "server"
    for c in calls:
        sid = c["sock"]
        if sid is not None and c["call"] in ("connect", "connect_ex") and c["type"] != "SOCK_DGRAM":
            side.setdefault(str(sid), "client")
    return side


def _udp_sides(calls: list[CallRecord]) -> dict[str, str]:
    """UDP: a socket that bound a port and received first is the server; one that sent first, the client.
    A datagram socket of another protocol (an ICMP ping socket: SOCK_DGRAM, IPPROTO_ICMP) is no UDP."""
    other = {str(c["sock"]) for c in calls if c["call"] == "socket"
             and c["args"].get("proto") not in (0, 17, None)}
    first: dict[str, str] = {}
    bound: set[str] = set()
    for c in sorted(calls, key=lambda c: c["t_start_ns"]):
        sid = c["sock"]
        if sid is None or c["type"] != "SOCK_DGRAM" or str(sid) in other:
            continue
        fam = _family(c["call"])
        if fam == "bind":
            bound.add(str(sid))
        if fam in ("send", "recv") and str(sid) not in first:
            first[str(sid)] = fam
    return {sid: "server" if (sid in bound and fam == "recv") else "client" for sid, fam in first.items()}


def classic_steps(calls: Iterable[CallRecord]) -> dict[int, int]:
    """Call id -> its step number in the classic flow (TCP: ``STEPS``; UDP: ``UDP_STEPS``).

    Only calls that did their step are tagged: a failed accept() or recv() (BlockingIOError, a timeout)
    is tagged too (it is the step, attempted), but a socket whose side is unknown is not.
    """
    calls = list(calls)
    tcp, udp = _sides(calls), _udp_sides(calls)
    # the listening socket's creation is step 1 only for the socket that listens
    out: dict[int, int] = {}
    for c in calls:
        sid, cid = c["sock"], c["id"]
        fam = _family(c["call"])
        if sid is None or fam is None:
            continue
        if str(sid) in tcp:
            step = _TCP.get((tcp[str(sid)], fam))
        elif str(sid) in udp:
            step = _UDP.get((udp[str(sid)], fam))
        else:
            step = None
        if step is not None:
            out[cid] = step
    return out


def step_label(call: CallRecord, steps: Mapping[int, int]) -> str:
    """``step 4`` (or ``UDP step 3``) for a tagged call, else ``""``."""
    step = steps.get(call["id"])
    if step is None:
        return ""
    return f"UDP step {step}" if call["type"] == "SOCK_DGRAM" else f"step {step}"
