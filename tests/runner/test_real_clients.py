"""Programs not written in this project (curl, nc, dig) in real namespaces: every packet attributed.

Python servers are traced in-process, the clients by strace; attribution must explain 100% of packets
(handshakes, data by byte offsets, FINs, datagrams) with no help from timestamps guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
DATA = Path(__file__).parent / "data"


def _run(require_tool: Callable[[str], str], tmp_path: Path, steps: str, *tools: str):
    for tool in ("dumpcap", "strace", *tools):
        require_tool(tool)
    from lab.runner import run_lab

    spec = tmp_path / "lab.yaml"
    head = "name: real-clients\nsummary: real clients\nconcept: programs not written here\n"
    spec.write_text(f"{head}topology: two-hosts\nsteps:\n{steps}")
    result = run_lab(spec, tmp_path / "out")
    packets = [json.loads(line) for line in (result.out / "packets.jsonl").read_text().splitlines()]
    calls = {c["id"]: c for c in map(json.loads, (result.out / "calls.jsonl").read_text().splitlines())}
    return result, packets, calls


def _assert_all_explained(result, packets) -> None:
    cov = result.report["coverage"]
    bad = [
        (p["number"], p["cause"]) for p in packets if p["cause"]["source"] not in ("call", "kernel", "lab")
    ]
    assert cov["explained"] == cov["total"] and not bad, bad


def test_curl_against_python_http_server(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    result, packets, calls = _run(
        require_tool,
        tmp_path,
        """\
  - {name: server, node: h2, run: [python3, -m, http.server, "8000", --bind, "{ip[h2]}"], background: true,
     ready: {tcp: 8000}, expect_exit: null}
  - {name: client, node: h1, run: [curl, -s, -o, /dev/null, "http://{ip[h2]}:8000/"]}
""",
        "curl",
    )
    _assert_all_explained(result, packets)
    data = [p for p in packets if p.get("tcp") and p["tcp"]["len"] > 0]
    request = next(p for p in data if p["tcp"]["dport"] == 8000)
    senders = [calls[i] for i in request["cause"]["calls"]]
    assert senders[0]["tracer"] == "strace" and senders[0]["node"] == "h1"
    assert request["app"] == "HTTP"
    response = next(p for p in data if p["tcp"]["sport"] == 8000)
    responders = [calls[i] for i in response["cause"]["calls"]]
    assert responders and all(c["tracer"] == "python" for c in responders), response["cause"]


def test_nc_over_tcp(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    result, packets, calls = _run(
        require_tool,
        tmp_path,
        """\
  - {name: server, node: h2, run: [nc, -l, "7000"], background: true, ready: {tcp: 7000}, expect_exit: null}
  - {name: client, node: h1, run: [sh, -c, "echo hello from nc | nc -N {ip[h2]} 7000"]}
  - {wait: server, timeout: 5}
""",
        "nc",
    )
    _assert_all_explained(result, packets)
    data = [p for p in packets if p.get("tcp") and p["tcp"]["len"] > 0]
    assert sum(p["tcp"]["len"] for p in data) == len("hello from nc\n")
    assert all(
        calls[i]["tracer"] == "strace" and calls[i]["call"] in ("write", "send", "sendto")
        for p in data
        for i in p["cause"]["calls"]
    )


def test_nc_over_udp(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    result, packets, calls = _run(
        require_tool,
        tmp_path,
        """\
  - {name: server, node: h2, run: [nc, -u, -l, "7001"], background: true, ready: {udp: 7001},
     expect_exit: null}
  - {name: client, node: h1, run: [sh, -c, "echo datagram | nc -u -w1 {ip[h2]} 7001"]}
""",
        "nc",
    )
    _assert_all_explained(result, packets)
    dgram = next(p for p in packets if p.get("udp") and p["udp"]["dport"] == 7001)
    assert dgram["cause"]["rule"] == "udp-sendto" and dgram["cause"].get("consumed_by")


def test_dig_against_a_small_dns_responder(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dig")
    result, packets, calls = _run(
        require_tool,
        tmp_path,
        f"""\
  - {{name: dns, node: h2, run: [python3, "{DATA / "dns_responder.py"}", "{{ip[h2]}}", "53", "1"],
     background: true, ready: {{udp: 53}}}}
  - {{name: client, node: h1, run: [dig, +tries=1, +time=2, -p, "53", "@{{ip[h2]}}", lab.example, A]}}
  - {{wait: dns, timeout: 5}}
""",
    )
    _assert_all_explained(result, packets)
    dns = [p for p in packets if p.get("udp")]
    assert [p["app"] for p in dns] == ["DNS", "DNS"]
    query, reply = dns
    assert calls[query["cause"]["calls"][0]]["tracer"] == "strace"
    assert calls[reply["cause"]["calls"][0]]["call"] == "sendto"
    assert reply["cause"]["consumed_by"], "dig's receive call was not matched"
