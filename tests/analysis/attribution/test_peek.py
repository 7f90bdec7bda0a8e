"""A receive with MSG_PEEK consumes nothing: the datagram is "peeked by" it and "received by" the read
that really took it (programs like OpenBSD ``nc -u -l`` peek first to learn the sender)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.records import PacketRecord
from tests.helpers.attribution import CheckedAttributor as Attributor
from tests.helpers.attribution import call, packet_record
from tests.helpers.builders import ip
from tests.helpers.builders import udp as udp_header

A, B = ("198.18.0.1", 33000), ("198.18.0.2", 5017)
DG = {"type": "SOCK_DGRAM"}


def udp(n: int, t: int, payload: int) -> PacketRecord:
    return packet_record(number=n, ts_ns=t, interface="h1-eth0", role="udp", ip=ip(A[0], B[0], 17, ip_id=n),
                         udp=udp_header(A[1], B[1], payload + 8, sha1="aaaa"))


def test_a_peek_is_named_but_the_read_after_it_consumed_the_datagram() -> None:
    got = {"peer": list(A), "len": 5, "sha1": "aaaa"}
    calls = [
        call(1, "h2", "2:3:1", "recvfrom", 10, t_end_ns=300, nbytes=5, local=list(B),
             args={"flags": "MSG_PEEK"}, dgram=got, **DG),
        call(2, "h2", "2:3:1", "connect", 400, t_end_ns=410, local=list(B), peer=list(A), **DG),
        call(3, "h2", "2:3:1", "read", 500, t_end_ns=510, nbytes=5, local=list(B), peer=list(A),
             recv_after=5, dgram=got, **DG),
        call(4, "h1", "1:3:1", "sendto", 100, nbytes=5, local=list(A), sent_after=5,
             dgram={"peer": list(B), "len": 5, "sha1": "aaaa"}, **DG),
    ]
    cause = Attributor(calls).cause(udp(1, 200, 5))
    assert cause["calls"] == [4] and cause["consumed_by"] == [3] and cause["peeked_by"] == [1]
    assert "peeked by h2 recvfrom() #1" in cause["text"] and "received by h2 read() #3" in cause["text"]
    assert "received by h2 recvfrom() #1" not in cause["text"]


def _lab(tmp_path: Path, steps: str) -> tuple[list[dict], dict[int, dict]]:
    from lab.runner import run_lab

    spec = tmp_path / "lab.yaml"
    spec.write_text("name: peek\nsummary: a server that peeks first\nconcept: MSG_PEEK\ntopology: two-hosts\n"
                    f"steps:\n{steps}")
    result = run_lab(spec, tmp_path / "out")
    packets = [json.loads(line) for line in (result.out / "packets.jsonl").read_text().splitlines()]
    calls = {c["id"]: c for c in map(json.loads, (result.out / "calls.jsonl").read_text().splitlines())}
    cov = result.report["coverage"]
    assert cov["explained"] == cov["total"], result.report["failures"]
    return packets, calls


def _check_request(packets: list[dict], calls: dict[int, dict], port: int) -> None:
    requests = [p for p in packets if p.get("udp") and p["udp"]["dport"] == port]
    assert requests, "no datagram to the server in the capture"
    for p in requests:
        cause = p["cause"]
        assert cause.get("peeked_by"), cause
        assert all("MSG_PEEK" in calls[i]["args"].get("flags", "") for i in cause["peeked_by"])
        assert cause.get("consumed_by"), cause
        assert all("MSG_PEEK" not in str(calls[i]["args"].get("flags")) for i in cause["consumed_by"])
        assert "peeked by" in cause["text"] and "received by" in cause["text"]


PEEKING_SERVER = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{ip[h2]}', 5017)); "
    "d, a = s.recvfrom(64, socket.MSG_PEEK); s.connect(a); print(s.recv(64).decode(), flush=True)"
)
CLIENT = ("import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
          "s.sendto(b'peek me', ('{ip[h2]}', 5017)); time.sleep(0.3)")


@pytest.mark.root
def test_python_server_that_peeks_first(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dumpcap")
    packets, calls = _lab(tmp_path, f"""\
  - {{name: server, node: h2, run: [python3, -c, "{PEEKING_SERVER}"], background: true, ready: {{udp: 5017}}}}
  - {{name: client, node: h1, run: [python3, -c, "{CLIENT}"]}}
  - {{wait: server, timeout: 5}}
""")
    _check_request(packets, calls, 5017)


@pytest.mark.root
def test_openbsd_nc_listening_on_udp_peeks_first(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    for tool in ("dumpcap", "strace", "nc"):
        require_tool(tool)
    packets, calls = _lab(tmp_path, """\
  - {name: server, node: h2, run: [nc, -u, -l, "5017"], background: true, ready: {udp: 5017},
     expect_exit: null}
  - {name: client, node: h1, run: [python3, -c, "CLIENT"]}
""".replace("CLIENT", CLIENT))
    _check_request(packets, calls, 5017)
    assert any(calls[i]["tracer"] == "strace" for p in packets if p.get("udp")
               for i in p["cause"].get("consumed_by", []))
