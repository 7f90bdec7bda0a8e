"""Benchmark: the call-log attribution on its own (``Attributor.cause``), the hot path of every lab run.

Two synthetic runs, built in memory as complete records (what the pipeline hands the attribution and what
the tracer writes), so that nothing but the rules is timed:

- udp: 3,000 datagrams from h1 to h2, each one ``sendto()`` and one ``recvfrom()`` (6,000 calls): every
  packet is matched to its send and its read by ``datagrams.earliest_fit``;
- tcp: one connection carrying 3,000 data segments of 1,000 bytes, each written by its own ``send()`` and
  acknowledged (handshake, data, ACKs: 6,003 packets): the byte-offset rules and the ACK rule table.

Timed: building the ``Attributor`` and attributing every packet, the shortest of three runs; printed per
packet. Run: ``.venv/bin/python -m bench attribution``.
"""

from __future__ import annotations

import time
from typing import Any

from lab.records import SCHEMA_VERSION

H1, H2 = "198.18.0.1", "198.18.0.2"
N = 3000
STEP = 1_000_000  # 1 ms between datagrams (segments)


def _call(i: int, node: str, sock: str, name: str, t: int, **kw: Any) -> dict[str, Any]:
    rec = {"schema_version": SCHEMA_VERSION, "id": i, "tracer": "python", "node": node, "pid": 1, "tid": 1,
           "sock": sock, "fd": 3, "call": name, "args": {}, "ret": 0, "error": None, "exception": None,
           "t_start_ns": t, "t_end_ns": t + 20_000, "family": "AF_INET", "type": "SOCK_STREAM", "local": None,
           "peer": None, "nbytes": None, "sent_before": 0, "sent_after": 0, "recv_before": 0, "recv_after": 0,
           "dgram": None}
    rec.update(kw)
    return rec


def _packet(n: int, t: int, src: str, dst: str, proto: int, **kw: Any) -> dict[str, Any]:
    rec = {"schema_version": SCHEMA_VERSION, "number": n, "ts_ns": t, "t": None, "interface": "h1-eth0",
           "node": "h1", "len": 100, "caplen": 100, "layers": [], "summary": "", "eth": None,
           "ip": {"version": 4, "src": src, "dst": dst, "ttl": 64, "id": n, "proto": proto, "frag": None},
           "tcp": None, "udp": None, "icmp": None, "arp": None, "app": None,
           "role": {"code": "udp" if proto == 17 else "data", "text": ""}, "analysis": []}
    rec.update(kw)
    return rec


def udp_run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    a, b = [H1, 40000], [H2, 5017]
    calls, packets = [], []
    for i in range(N):
        t, size, sha = (i + 1) * STEP, 100 + i % 50, f"{i:016x}"
        calls.append(_call(2 * i + 1, "h1", "1:3:1", "sendto", t, type="SOCK_DGRAM", local=a, nbytes=size,
                           dgram={"peer": b, "len": size, "sha1": sha}))
        calls.append(_call(2 * i + 2, "h2", "2:3:1", "recvfrom", t - STEP // 2, t_end_ns=t + 50_000,
                           type="SOCK_DGRAM", local=b, nbytes=size,
                           dgram={"peer": a, "len": size, "sha1": sha}))
        udp = {"sport": a[1], "dport": b[1], "length": size + 8, "stream": 0, "sha1": sha}
        packets.append(_packet(i + 1, t + 10_000, H1, H2, 17, udp=udp))
    return calls, packets


def _tcp(n: int, t: int, src: list, dst: list, flags: str, seq: int, ack: int, length: int) -> dict[str, Any]:
    bits = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16}
    flags_int = sum(bits[f] for f in flags.split(","))
    tcp = {"sport": src[1], "dport": dst[1], "flags": flags, "flags_int": flags_int, "seq_raw": seq,
           "ack_raw": ack, "seq": None, "ack": None, "len": length, "win": 500, "mss": None, "stream": 0,
           "from_client": None}
    return _packet(n, t, src[0], dst[0], 6, tcp=tcp)


def tcp_run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    c, s = [H1, 40000], [H2, 5000]
    isn_c, isn_s, size = 1000, 5000, 1000
    cs, ss = {"local": c, "peer": s}, {"local": s, "peer": c}
    calls = [_call(1, "h2", "2:3:1", "listen", 0, local=["0.0.0.0", 5000]),
             _call(2, "h1", "1:3:1", "connect", 10, t_end_ns=400, **cs)]
    packets = [_tcp(1, 100, c, s, "SYN", isn_c, 0, 0), _tcp(2, 200, s, c, "SYN,ACK", isn_s, isn_c + 1, 0),
               _tcp(3, 300, c, s, "ACK", isn_c + 1, isn_s + 1, 0)]
    for i in range(N):
        t = (i + 1) * STEP
        calls.append(_call(3 + 2 * i, "h1", "1:3:1", "send", t, nbytes=size, sent_before=i * size,
                           sent_after=(i + 1) * size, **cs))
        calls.append(_call(4 + 2 * i, "h2", "2:4:1", "recv", t + 5_000, nbytes=size, recv_before=i * size,
                           recv_after=(i + 1) * size, **ss))
        seq, acked = isn_c + 1 + i * size, isn_c + 1 + (i + 1) * size
        packets.append(_tcp(len(packets) + 1, t + 1_000, c, s, "PSH,ACK", seq, isn_s + 1, size))
        packets.append(_tcp(len(packets) + 1, t + 2_000, s, c, "ACK", isn_s + 1, acked, 0))
    return calls, packets


def _time(calls: list[dict[str, Any]], packets: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    from lab.analysis.attribution import Attributor

    best, sources = float("inf"), {}
    for _ in range(3):
        batch = [dict(p) for p in packets]
        start = time.perf_counter()
        attributor = Attributor(calls)
        causes = [attributor.cause(p) for p in batch]  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - start)
        sources = {}
        for cause in causes:
            sources[cause["source"]] = sources.get(cause["source"], 0) + 1
    return best, sources


def main() -> int:
    failed = 0
    for name, (calls, packets) in (("udp", udp_run()), ("tcp", tcp_run())):
        best, sources = _time(calls, packets)
        explained = sources.get("call", 0) + sources.get("kernel", 0)
        print(f"attribution {name}: {len(packets)} packets, {len(calls)} calls in {best * 1000:.0f} ms "
              f"({best / len(packets) * 1e6:.1f} us per packet, best of 3); "
              f"explained {explained}/{len(packets)}")
        failed += explained != len(packets)  # a benchmark of rules that explain nothing measures nothing
    return failed
