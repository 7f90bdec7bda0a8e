"""Builders of small synthetic packets.jsonl / calls.jsonl records for unit tests of checks and questions.

Only the fields the contracts define (see the shared data contracts); defaults describe h1 (198.18.0.1)
talking to h2 (198.18.0.2) on one capture point.
"""

from __future__ import annotations

from typing import Any

H1, H2 = "198.18.0.1", "198.18.0.2"
T0 = 1_764_000_000_000_000_000


class Capture:
    """Appends packets with increasing numbers and times (1 ms apart unless ``at`` is given)."""

    def __init__(self) -> None:
        self.packets: list[dict[str, Any]] = []

    def _add(self, rec: dict[str, Any], at: float | None, iface: str, node: str | None) -> dict[str, Any]:
        n = len(self.packets) + 1
        t = at if at is not None else n * 0.001
        rec.update(
            number=n, ts_ns=T0 + round(t * 1e9), t=t, interface=iface, node=node or iface.split("-")[0]
        )
        rec.setdefault("analysis", [])
        # a test names only the cause fields it is about; the schema's required ones are filled in
        rec["cause"] = {"source": "kernel", "rule": "unknown", "text": "", **rec.get("cause", {"calls": []})}
        rec.setdefault("layers", [])
        rec.setdefault("eth", {"src": "02:00:00:00:01:00", "dst": "02:00:00:00:02:00"})
        self.packets.append(rec)
        return rec

    def tcp(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        flags: str,
        *,
        role: str,
        seq_raw: int = 1000,
        ack_raw: int = 0,
        seq: int = 0,
        length: int = 0,
        mss: int | None = None,
        at: float | None = None,
        iface: str = "h1-eth0",
        node: str | None = None,
        ttl: int = 64,
        ip_id: int = 1,
        win: int = 500,
        from_client: bool = True,
        cause: dict | None = None,
        analysis: list[str] | None = None,
        app: str | None = None,
        eth: dict | None = None,
    ) -> dict[str, Any]:
        rec = {
            "len": 54 + length,
            "caplen": 54 + length,
            "summary": f"{src} -> {dst} [{flags}]",
            "ip": {
                "version": 4,
                "src": src[0],
                "dst": dst[0],
                "ttl": ttl,
                "id": ip_id,
                "proto": 6,
                "frag": None,
            },
            "tcp": {
                "sport": src[1],
                "dport": dst[1],
                "flags": flags,
                "seq_raw": seq_raw,
                "ack_raw": ack_raw,
                "seq": seq,
                "ack": 0,
                "len": length,
                "win": win,
                "mss": mss,
                "stream": 0,
                "from_client": from_client,
            },
            "udp": None,
            "icmp": None,
            "arp": None,
            "app": app,
            "role": {"code": role, "text": role},
        }
        if cause is not None:
            rec["cause"] = cause
        if analysis is not None:
            rec["analysis"] = analysis
        if eth is not None:
            rec["eth"] = eth
        return self._add(rec, at, iface, node)

    def udp(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        payload: int,
        *,
        at: float | None = None,
        iface: str = "h1-eth0",
        node: str | None = None,
        frag: dict | None = None,
        ip_id: int = 7,
        app: str | None = None,
    ) -> dict[str, Any]:
        rec = {
            "len": 42 + payload,
            "caplen": 42 + payload,
            "summary": f"{src} -> {dst} UDP",
            "ip": {
                "version": 4,
                "src": src[0],
                "dst": dst[0],
                "ttl": 64,
                "id": ip_id,
                "proto": 17,
                "frag": frag,
            },
            "tcp": None,
            "udp": {"sport": src[1], "dport": dst[1], "length": payload + 8, "stream": 0},
            "icmp": None,
            "arp": None,
            "app": app,
            "role": {"code": "udp", "text": "udp"},
        }
        return self._add(rec, at, iface, node)

    def fragment(
        self,
        src: str,
        dst: str,
        *,
        offset: int,
        mf: bool,
        size: int,
        ip_id: int = 99,
        iface: str = "h1-eth0",
        node: str | None = None,
    ) -> dict[str, Any]:
        rec = {
            "len": 14 + size,
            "caplen": 14 + size,
            "summary": "IPv4 fragment",
            "ip": {
                "version": 4,
                "src": src,
                "dst": dst,
                "ttl": 64,
                "id": ip_id,
                "proto": 17,
                "frag": {"offset": offset, "mf": mf, "id": ip_id},
            },
            "tcp": None,
            "udp": None,
            "icmp": None,
            "arp": None,
            "app": None,
            "role": {"code": "ip-fragment", "text": "fragment"},
        }
        return self._add(rec, None, iface, node)

    def arp(self, sender: str, target: str, *, iface: str = "h1-eth0") -> dict[str, Any]:
        rec = {
            "len": 42,
            "caplen": 42,
            "summary": "ARP",
            "ip": None,
            "tcp": None,
            "udp": None,
            "icmp": None,
            "arp": {"op": 1, "sender_ip": sender, "target_ip": target, "sender_mac": "", "target_mac": ""},
            "app": None,
            "role": {"code": "arp-request", "text": "ARP"},
        }
        return self._add(rec, None, iface, None)


def call(
    id: int,
    name: str,
    *,
    node: str = "h1",
    at: float = 0.0,
    took: float = 0.0001,
    sock: str = "1:3:1",
    ret: Any = None,
    error: str | None = None,
    exception: str | None = None,
    local: Any = None,
    peer: Any = None,
    type: str = "SOCK_STREAM",
    nbytes: int | None = None,
    args: dict | None = None,
    sent_after: int = 0,
    dgram: dict | None = None,
) -> dict[str, Any]:
    """One calls.jsonl record; ``at`` and ``took`` in seconds on the capture's clock."""
    return {
        "id": id,
        "tracer": "python",
        "node": node,
        "pid": 1,
        "tid": 1,
        "sock": sock,
        "fd": 3,
        "call": name,
        "args": args or {},
        "ret": ret,
        "error": error,
        "exception": exception,
        "t_start_ns": T0 + round(at * 1e9),
        "t_end_ns": T0 + round((at + took) * 1e9),
        "family": "AF_INET",
        "type": type,
        "local": local,
        "peer": peer,
        "nbytes": nbytes,
        "sent_before": 0,
        "sent_after": sent_after,
        "recv_before": 0,
        "recv_after": 0,
        "dgram": dgram,
    }


C, S = (H1, 40000), (H2, 5000)


def echo_session(*, accept_at: float = 0.010, data_ack_from: str = "call") -> tuple[list, list]:
    """A tcp-echo run: handshake at 1-3 ms, data at 4-5 ms, FINs at 6-8 ms; accept() returns at accept_at."""
    cap = Capture()
    cap.tcp(C, S, "SYN", role="syn", seq_raw=1000, mss=1460, cause={"source": "call", "calls": [7]})
    cap.tcp(
        S,
        C,
        "SYN,ACK",
        role="syn-ack",
        seq_raw=5000,
        ack_raw=1001,
        mss=1460,
        from_client=False,
        cause={"source": "kernel", "calls": [4]},
    )
    cap.tcp(C, S, "ACK", role="handshake-ack", seq_raw=1001, ack_raw=5001, seq=1)
    cap.tcp(
        C, S, "PSH,ACK", role="data", seq_raw=1001, seq=1, length=10, cause={"source": "call", "calls": [8]}
    )
    cap.tcp(S, C, "ACK", role="ack", seq_raw=5001, ack_raw=1011, seq=1, from_client=False)
    cap.tcp(C, S, "FIN,ACK", role="fin", seq_raw=1011, seq=11)
    cap.tcp(S, C, "FIN,ACK", role="fin", seq_raw=5001, seq=1, from_client=False)
    cap.tcp(C, S, "ACK", role="ack", seq_raw=1012, seq=12)
    calls = [
        call(3, "bind", node="h2", at=0.0, local=["0.0.0.0", 5000], sock="2:3:1"),
        call(4, "listen", node="h2", at=0.0002, local=["0.0.0.0", 5000], sock="2:3:1"),
        call(
            5,
            "accept",
            node="h2",
            at=0.0003,
            took=accept_at - 0.0003,
            sock="2:3:1",
            ret={"fd": 4, "sock": "2:4:1", "peer": list(C)},
        ),
        call(7, "connect", at=0.0005, took=0.0022, local=list(C), peer=list(S)),
        call(8, "sendall", at=0.0035, local=list(C), peer=list(S), nbytes=10, sent_after=10),
    ]
    return cap.packets, calls


def routed_syn() -> Capture:
    cap = Capture()
    for i, iface in enumerate(["h1-eth0", "r1-eth1", "r2-eth1"]):
        cap.tcp(C, S, "SYN", role="syn", iface=iface, ttl=64 - i, eth={"src": f"m{i}", "dst": f"m{i + 1}"})
    for a, b in [(H1, "198.18.0.254"), ("198.18.1.254", "198.18.1.253"), ("198.18.2.254", H2)]:
        cap.arp(a, b)
    return cap


def load_run(run_dir: Any) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """A recorded run's lab copy and derived records (packets.jsonl, calls.jsonl), for unit tests of checks.

    Grading never reads these derived files (it re-analyzes the raw evidence); tests of the checks do.
    """
    import json
    from pathlib import Path

    from lab.labs.spec import load_lab

    root = Path(run_dir)
    def read(name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (root / name).read_text().splitlines() if line.strip()]

    return load_lab(root / "lab.yaml", check_topology=False), read("packets.jsonl"), read("calls.jsonl")
