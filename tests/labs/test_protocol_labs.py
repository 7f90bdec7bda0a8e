"""The protocol labs (ICMP, IGMP, FTP, SNMP, Telnet, PPP/SLIP), each run for real once: green, every
packet explained, and the packets that are the lab's point present and attributed to the right call,
daemon or kernel — facts read from packets.jsonl and calls.jsonl, not just the exit status."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from lab.labs.grading import grade
from lab.labs.spec import PROGRAMS_DIR, load_lab
from tests.helpers.records import load_jsonl

runner = pytest.importorskip("lab.runner")


class Run:
    """One lab run's evidence, with the lookups the tests share."""

    def __init__(self, name: str, out: Path) -> None:
        self.result = runner.run_lab(load_lab(name), out)
        self.report = self.result.report
        # the key, as the teacher's grading recomputes it from the raw evidence (no run output holds it)
        self.grade = grade(out, {}, load_lab(name))
        self.answers = {m.id: m.expected for m in self.grade.marks}
        self.packets = load_jsonl(out / "packets.jsonl")
        self.calls = {c["id"]: c for c in load_jsonl(out / "calls.jsonl")}

    def green(self) -> None:
        assert self.result.failures == [], self.result.failures
        cov = self.report["coverage"]
        assert cov["total"] > 0 and cov["explained"] == cov["total"], cov
        assert self.grade.trusted, (self.grade.flags, self.grade.problems)
        assert all(v is not None for v in self.answers.values()), self.answers

    def originals(self, rule: str) -> list[dict[str, Any]]:
        """Packets explained by ``rule``, each once (forwarded copies left out)."""
        return [
            p for p in self.packets if p["cause"].get("rule") == rule and p["cause"].get("copy_of") is None
        ]

    def call(self, cid: int) -> dict[str, Any]:
        return self.calls[cid]


@pytest.fixture(scope="module")
def icmp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run("icmp", tmp_path_factory.mktemp("icmp") / "run")


@pytest.mark.root
def test_icmp_lab_is_green_and_explains_every_packet(icmp_run: Run) -> None:
    icmp_run.green()
    assert icmp_run.answers["hops"] == ["r1", "r2", "r3"]
    assert icmp_run.answers["next-mtu"] == 1280


@pytest.mark.root
def test_icmp_echo_requests_come_from_sendto_on_a_ping_socket(icmp_run: Run) -> None:
    requests = icmp_run.originals("icmp-echo-request")
    assert len(requests) == 3
    for seq, req in enumerate(requests, start=1):
        send = icmp_run.call(req["cause"]["calls"][0])
        assert send["call"] == "sendto" and send["node"] == "h1"
        sock = next(c for c in icmp_run.calls.values() if c["sock"] == send["sock"] and c["call"] == "socket")
        assert sock["args"] == {"family": "AF_INET", "type": "SOCK_DGRAM", "proto": 1}
        assert req["icmp"]["echo"]["seq"] == seq
    replies = icmp_run.originals("icmp-echo-reply")
    assert len(replies) == 3
    for reply in replies:
        assert reply["cause"]["source"] == "kernel" and reply["cause"]["node"] == "h2"
        assert icmp_run.call(reply["cause"]["consumed_by"][0])["call"] == "recvfrom"
        assert reply["icmp"]["echo"]["id"] == requests[0]["icmp"]["echo"]["id"]


@pytest.mark.root
def test_port_unreachable_reaches_only_the_connected_socket(icmp_run: Run) -> None:
    errors = icmp_run.originals("icmp-port-unreachable")
    assert [e["cause"]["node"] for e in errors] == ["h2", "h2", "h2"]
    unconnected, connected, trace_end = errors
    assert "consumed_by" not in unconnected["cause"]
    assert "unconnected UDP socket is not told" in unconnected["cause"]["text"]
    told = icmp_run.call(connected["cause"]["consumed_by"][0])
    assert told["call"] == "recv" and told["exception"] == "ConnectionRefusedError"
    assert icmp_run.call(trace_end["cause"]["consumed_by"][0])["call"] == "recvmsg"
    quoted = next(p for p in icmp_run.packets if p["number"] == connected["cause"]["answers"])
    assert quoted["udp"]["dport"] == 40009 and quoted["cause"]["rule"] == "udp-sendto"


@pytest.mark.root
def test_time_exceeded_names_each_router_and_the_ttl(icmp_run: Run) -> None:
    errors = icmp_run.originals("icmp-time-exceeded")
    assert [e["cause"]["node"] for e in errors] == ["r1", "r2", "r3"]
    ttls = []
    for err in errors:
        assert "TTL reached 0 (it arrived with TTL 1)" in err["cause"]["text"]
        probe = next(p for p in icmp_run.packets if p["number"] == err["cause"]["answers"])
        assert probe["ip"]["ttl"] == 1
        sender = icmp_run.call(probe["cause"]["calls"][0])
        ttls.append(
            next(
                c["args"]["value"]
                for c in sorted(icmp_run.calls.values(), key=lambda c: -c["t_start_ns"])
                if c["call"] == "setsockopt"
                and c["sock"] == sender["sock"]
                and c["t_start_ns"] < sender["t_start_ns"]
            )
        )
        assert icmp_run.call(err["cause"]["consumed_by"][0])["args"]["flags"] == "MSG_ERRQUEUE"
    assert ttls == [1, 2, 3]


@pytest.mark.root
def test_fragmentation_needed_lowers_the_path_mtu(icmp_run: Run) -> None:
    (msg,) = icmp_run.originals("icmp-frag-needed")
    assert msg["cause"]["node"] == "r3" and msg["icmp"]["mtu"] == 1280
    assert "1428 bytes with Don't Fragment set do not fit the next link's MTU 1280" in msg["cause"]["text"]
    told = icmp_run.call(msg["cause"]["consumed_by"][0])
    assert told["call"] == "getsockopt" and told["ret"] == 90
    too_big = [c for c in icmp_run.calls.values() if c["call"] == "send" and c.get("error") == "EMSGSIZE"]
    assert len(too_big) == 1
    big = [p for p in icmp_run.packets if (p.get("udp") or {}).get("length") == 1408]
    assert big and all("received by" not in p["cause"]["text"] for p in big)  # dropped by r3, read by none


@pytest.fixture(scope="module")
def igmp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run("igmp", tmp_path_factory.mktemp("igmp") / "run")


@pytest.mark.root
def test_igmp_lab_is_green(igmp_run: Run) -> None:
    igmp_run.green()
    assert igmp_run.answers["group"] == "239.1.2.3"
    assert igmp_run.answers["report-dst"] == "224.0.0.22"
    assert igmp_run.answers["group-mac"] == "01:00:5e:01:02:03"


@pytest.mark.root
def test_igmp_join_is_the_setsockopt_and_the_leave_is_the_close(igmp_run: Run) -> None:
    joins = igmp_run.originals("igmp-join")
    assert sorted(j["cause"]["node"] for j in joins) == ["h2", "h3"]
    for join in joins:
        call = igmp_run.call(join["cause"]["calls"][0])
        assert call["call"] == "setsockopt" and call["args"]["optname"] == "IP_ADD_MEMBERSHIP"
        assert call["node"] == join["cause"]["node"] and join["ts_ns"] >= call["t_start_ns"]
        (record,) = join["igmp"]["records"]
        assert record == {"type": 4, "name": "CHANGE_TO_EXCLUDE_MODE", "group": "239.1.2.3", "sources": []}
        assert join["ip"]["dst"] == "224.0.0.22"
    leaves = igmp_run.originals("igmp-leave")
    assert sorted(x["cause"]["node"] for x in leaves) == ["h2", "h3"]
    for leave in leaves:
        call = igmp_run.call(leave["cause"]["calls"][0])
        assert call["call"] == "close" and call["node"] == leave["cause"]["node"]
        assert leave["igmp"]["records"][0]["name"] == "CHANGE_TO_INCLUDE_MODE"
    assert not [p for p in igmp_run.packets if p.get("igmp") and p["cause"].get("node") == "h4"]


@pytest.mark.root
def test_each_multicast_datagram_is_one_sendto_read_by_every_member(igmp_run: Run) -> None:
    datagrams = igmp_run.originals("udp-multicast")
    assert len(datagrams) == 3
    for dgram in datagrams:
        assert igmp_run.call(dgram["cause"]["calls"][0])["call"] == "sendto"
        readers = [igmp_run.call(i) for i in dgram["cause"]["consumed_by"]]
        assert sorted(r["node"] for r in readers) == ["h2", "h3"]
        assert all(r["call"] == "recvfrom" and r["nbytes"] == dgram["udp"]["length"] - 8 for r in readers)


@pytest.fixture(scope="module")
def snmp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run("snmp", tmp_path_factory.mktemp("snmp") / "run")


@pytest.mark.root
def test_snmp_lab_is_green(snmp_run: Run) -> None:
    snmp_run.green()
    answers = snmp_run.answers
    assert answers["community"] == "lab-public" and answers["sysname"] == "lab-agent"
    assert answers["services-type"] == "INTEGER"


@pytest.mark.root
def test_snmp_get_and_response_are_decoded_and_sent_by_the_real_programs(snmp_run: Run) -> None:
    (request,) = [p for p in snmp_run.packets if (p.get("snmp") or {}).get("pdu") == "get-request"]
    (response,) = [p for p in snmp_run.packets if (p.get("snmp") or {}).get("pdu") == "response"]
    assert request["udp"]["dport"] == 161 and response["udp"]["sport"] == 161
    assert request["snmp"]["version"] == "v2c" and request["snmp"]["community"] == "lab-public"
    assert [v["oid"] for v in request["snmp"]["varbinds"]] == [
        "1.3.6.1.2.1.1.5.0",
        "1.3.6.1.2.1.1.6.0",
        "1.3.6.1.2.1.1.7.0",
    ]
    assert all(v["type"] == "NULL" for v in request["snmp"]["varbinds"])
    assert response["snmp"]["request_id"] == request["snmp"]["request_id"]
    assert response["snmp"]["error"] == "noError"
    assert [v["value"] for v in response["snmp"]["varbinds"]] == ["lab-agent", "rack 42, lab network", 72]
    assert "get-request community 'lab-public'" in request["role"]["text"]
    for packet, sender, reader in ((request, "h1", "h2"), (response, "h2", "h1")):
        send = snmp_run.call(packet["cause"]["calls"][0])
        read = snmp_run.call(packet["cause"]["consumed_by"][0])
        assert send["tracer"] == read["tracer"] == "strace"  # snmpget and snmpd are C programs
        assert (send["node"], read["node"]) == (sender, reader)
        assert send["call"].startswith("send") and read["call"].startswith("recv")
        assert send["ret"] == packet["udp"]["length"] - 8


@pytest.fixture(scope="module")
def ftp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run("ftp", tmp_path_factory.mktemp("ftp") / "run")


def _first_line(run: Run, prefix: str) -> dict[str, Any]:
    return next(
        p
        for p in run.packets
        if any(line.startswith(prefix) for line in (p.get("ftp") or {}).get("lines", []))
    )


@pytest.mark.root
def test_ftp_lab_is_green(ftp_run: Run) -> None:
    ftp_run.green()
    answers = ftp_run.answers
    assert answers["active-syn-from"] == "h2" and answers["connections"] == 3


@pytest.mark.root
def test_ftp_passive_data_connection_goes_to_the_port_of_the_227_reply(ftp_run: Run) -> None:
    assert "PASS lab-password" in _first_line(ftp_run, "PASS")["ftp"]["lines"]  # clear text
    reply = _first_line(ftp_run, "227 ")
    nums = reply["ftp"]["lines"][0].split("(")[1].split(")")[0].split(",")
    port = int(nums[4]) * 256 + int(nums[5])
    assert ftp_run.answers["pasv-port"] == port and 40400 <= port <= 40409
    syn = next(
        p for p in ftp_run.packets if (p.get("tcp") or {}).get("flags") == "SYN" and p["tcp"]["dport"] == port
    )
    connect = ftp_run.call(syn["cause"]["calls"][0])
    assert connect["call"] == "connect" and connect["node"] == "h1"
    data = [p for p in ftp_run.packets if p.get("app") == "FTP-DATA" and p["tcp"]["sport"] == port]
    assert sum(p["tcp"]["len"] for p in data) == 3000
    assert {ftp_run.call(p["cause"]["calls"][0])["node"] for p in data} == {"h2"}


@pytest.mark.root
def test_ftp_active_data_connection_is_opened_by_the_server(ftp_run: Run) -> None:
    command = _first_line(ftp_run, "PORT ")
    assert ftp_run.call(command["cause"]["calls"][0])["node"] == "h1"
    nums = command["ftp"]["lines"][0].split()[1].split(",")
    port = int(nums[4]) * 256 + int(nums[5])
    syn = next(
        p for p in ftp_run.packets if (p.get("tcp") or {}).get("flags") == "SYN" and p["tcp"]["dport"] == port
    )
    connect = ftp_run.call(syn["cause"]["calls"][0])
    # the server connects back (pyftpdlib's non-blocking connect_ex)
    assert connect["call"] in ("connect", "connect_ex") and connect["node"] == "h2"
    accept = next(c for c in ftp_run.calls.values() if c["call"] == "accept" and c["node"] == "h1")
    assert accept["t_end_ns"] >= syn["ts_ns"]


@pytest.fixture(scope="module")
def telnet_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run("telnet", tmp_path_factory.mktemp("telnet") / "run")


@pytest.mark.root
def test_telnet_lab_is_green(telnet_run: Run) -> None:
    telnet_run.green()
    assert telnet_run.answers["terminal"] == "VT100"
    assert "DO TERMINAL-TYPE" in telnet_run.answers["first-server-commands"]


@pytest.mark.root
def test_telnet_negotiation_is_decoded_and_sent_by_telnetd_and_the_client(telnet_run: Run) -> None:
    with_commands = [p for p in telnet_run.packets if (p.get("telnet") or {}).get("commands")]
    server = [p for p in with_commands if p["tcp"]["sport"] == 23]
    client = [p for p in with_commands if p["tcp"]["dport"] == 23]
    assert server and client
    first = server[0]
    assert first["telnet"]["data_bytes"] == 0 and "DO TERMINAL-TYPE" in first["telnet"]["commands"]
    for p in server:  # telnetd (C, under strace) writes the socket that inetd made its standard output
        call = telnet_run.call(p["cause"]["calls"][0])
        assert (
            call["tracer"] == "strace"
            and call["node"] == "h2"
            and call["call"] in ("write", "send", "sendto")
        )
    for p in client:  # the Python client, traced in-process
        calls = [telnet_run.call(i) for i in p["cause"]["calls"]]
        assert all(c["tracer"] == "python" and c["call"] == "send" and c["node"] == "h1" for c in calls)
        assert all(c["ret"] == 3 for c in calls if not c["args"].get("preview", "").startswith("\\xff\\xfa"))
    said = [(p["number"], c) for p in with_commands for c in p["telnet"]["commands"]]
    order = [c for _n, c in said]
    assert order.index("WILL TERMINAL-TYPE") < order.index("SB TERMINAL-TYPE SEND")
    assert order.index("SB TERMINAL-TYPE SEND") < order.index("SB TERMINAL-TYPE IS 'VT100'")
    assert "DO ECHO" in [
        c for p in client for c in p["telnet"]["commands"]
    ]  # agreed to the server's WILL ECHO
    typed = next(
        p
        for p in telnet_run.packets
        if p["tcp"] and p["tcp"]["dport"] == 23 and (p.get("telnet") or {}).get("data_bytes") == 19
    )
    assert telnet_run.call(typed["cause"]["calls"][0])["args"]["preview"].startswith("hello over telnet")


def _ppp_program():  # noqa: ANN202 - the lab's program, imported as a module
    spec = importlib.util.spec_from_file_location("ppp_link", PROGRAMS_DIR / "ppp_link.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PPP = _ppp_program()
PPP_SUPPORTED, PPP_REASON = PPP.ppp_support()


def test_ppp_record_is_unframed_into_ppp_frames(tmp_path: Path) -> None:
    """pppd's record format and RFC 1662 framing, converted as the live path does (no kernel needed)."""
    lcp = b"\xff\x03\xc0\x21\x01\x01\x00\x08\x01\x04\x05\xdc"
    stuffed = lcp.replace(b"\x7d", b"\x7d\x5d").replace(b"\x03", b"\x7d\x23")  # an escaped control byte
    line = b"\x7e" + stuffed + b"\xaa\xbb" + b"\x7e"
    # start time 100 s, then half the frame sent, 0.3 s later the rest; then a received frame
    record = (
        b"\x07"
        + (100).to_bytes(4, "big")
        + b"\x01\x00\x05"
        + line[:5]
        + b"\x06\x03"
        + b"\x01"
        + len(line[5:]).to_bytes(2, "big")
        + line[5:]
        + b"\x02\x00"
        + bytes([len(line)])
        + line
    )
    path = tmp_path / "h1.record"
    path.write_bytes(record)
    frames = PPP.read_record(path, 0)
    assert [(t, f, d) for t, f, d in frames] == [
        (100_300_000_000, lcp, "sent"),
        (100_300_000_000, lcp, "received"),
    ]


@pytest.mark.root
@pytest.mark.skipif(PPP_SUPPORTED, reason="the kernel has PPP: the live test runs instead")
def test_ppp_lab_falls_back_to_crafted_frames_and_says_so(tmp_path: Path) -> None:
    run = Run("ppp", tmp_path / "run")
    run.green()
    # the link step wrote into {out}: the run's files/ (the only place a lab program may write)
    meta = json.loads((tmp_path / "run" / "files" / "link.json").read_text())
    assert meta["mode"] == "crafted" and meta["reason"] == PPP_REASON and "CONFIG_PPP" in PPP_REASON
    said = (tmp_path / "run" / "logs" / "link.out").read_text().splitlines()[0]
    assert said.startswith(PPP_REASON) and "crafted" in said
    frames = load_jsonl(tmp_path / "run" / "files" / "link" / "packets.jsonl")
    assert frames and all(any("crafted with scapy" in c for c in f["comments"]) for f in frames)
    lcp = [f["ppp"] for f in frames if (f.get("ppp") or {}).get("protocol") == "LCP"]
    assert lcp[0]["code"] == "Configure-Request" and {"type": "MRU", "value": 1500} in lcp[0]["options"]
    nak = next(f["ppp"] for f in frames if (f.get("ppp") or {}).get("code") == "Configure-Nak")
    assert nak["protocol"] == "IPCP" and nak["options"] == [{"type": "IP-Address", "value": "198.19.0.1"}]
    slip = [f for f in frames if f["layers"][0]["name"] == "SLIP"]
    cslip = [f for f in frames if f["layers"][0]["name"] == "CSLIP"]
    assert [f["icmp"]["type"] for f in slip] == [8, 0]
    assert [f["slip"]["type"] for f in cslip] == [
        "VJ uncompressed TCP",
        "VJ compressed TCP",
        "VJ compressed TCP",
    ]
    assert [f["tcp"]["seq"] for f in cslip] == [1, 11, 21]  # one connection, its headers compressed
    assert run.answers["link-layers"] == ["PPP", "SLIP", "CSLIP"]


@pytest.mark.root
@pytest.mark.skipif(not PPP_SUPPORTED, reason=f"pppd needs a kernel with PPP: {PPP_REASON}")
def test_ppp_lab_runs_pppd_between_two_namespaces(tmp_path: Path) -> None:
    run = Run("ppp", tmp_path / "run")
    run.green()
    # the link step wrote into {out}: the run's files/ (the only place a lab program may write)
    meta = json.loads((tmp_path / "run" / "files" / "link.json").read_text())
    assert meta["mode"] == "captured" and meta["replies"] == 3
    frames = load_jsonl(tmp_path / "run" / "files" / "link" / "packets.jsonl")
    protocols = [(f.get("ppp") or {}).get("protocol") for f in frames]
    assert "LCP" in protocols and "IPCP" in protocols
    assert protocols.index("LCP") < protocols.index("IPCP")
    echoes = [f for f in frames if (f.get("icmp") or {}).get("type") in (0, 8)]
    assert len(echoes) >= 6 and all(f["layers"][0]["name"] == "PPP" for f in echoes)
    assert all(any("captured by pppd" in c for c in f["comments"]) for f in frames)
