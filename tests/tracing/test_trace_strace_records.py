"""strace output recorded from real programs on 127.0.0.1 -> calls.jsonl records (see data/record.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lab.tracing.strace import parse_strace_file
from tests.helpers.tracing import by_sock, check_offsets

DATA = Path(__file__).parent / "data"


def inet(records):
    return [r for r in records if r["family"] in ("AF_INET", "AF_INET6")]


def test_curl_http_get() -> None:
    recs = parse_strace_file(DATA / "curl_http.strace", "h1")
    assert check_offsets(recs) > 0
    tcp = inet(recs)
    assert {r["sock"] for r in tcp} == {tcp[0]["sock"]}  # one TCP socket
    calls = [r["call"] for r in tcp]
    assert calls[0] == "socket" and calls[-1] == "close"
    connect = next(r for r in tcp if r["call"] == "connect")
    assert connect["error"] == "EINPROGRESS" and connect["args"]["address"][0] == "127.0.0.1"
    port = connect["args"]["address"][1]
    send = next(r for r in tcp if r["call"] == "sendto")
    assert send["args"]["preview"].startswith("GET /hello.txt HTTP/1.1")
    assert send["nbytes"] == send["ret"] == send["args"]["nbytes"] and send["sent_before"] == 0
    close = tcp[-1]
    received = sum(r["nbytes"] for r in tcp if r["call"] == "recvfrom")
    assert close["sent_after"] == send["nbytes"] and close["recv_after"] == received > 19
    assert close["peer"] == ["127.0.0.1", port] and close["local"][0] == "127.0.0.1" and close["local"][1] > 0
    # the AF_UNIX sockets (nscd probe, curl's socketpair) are recorded too, file and pipe I/O is not
    assert {r["family"] for r in recs} >= {"AF_UNIX", "AF_INET"}
    assert all(r["sock"] for r in recs)


def test_nc_tcp_client_and_server_agree() -> None:
    cli = inet(parse_strace_file(DATA / "nc_tcp_client.strace", "h1"))
    srv = inet(parse_strace_file(DATA / "nc_tcp_server.strace", "h2"))
    assert check_offsets(cli) > 0
    assert check_offsets(srv) > 0
    write = next(r for r in cli if r["call"] == "write")
    assert (write["nbytes"], write["args"]["preview"]) == (15, "hello over tcp\n")
    shut = next(r for r in cli if r["call"] == "shutdown")
    assert shut["args"]["how"] == "SHUT_WR" and shut["sent_after"] == 15
    acc = next(r for r in srv if r["call"] == "accept4")
    conn = [r for r in srv if r["sock"] == acc["ret"]["sock"]]
    reads = [r for r in conn if r["call"] == "read"]
    assert [r["nbytes"] for r in reads] == [15, 0]  # data, then EOF
    assert reads[0]["recv_before"] == 0 and reads[1]["recv_before"] == reads[1]["recv_after"] == 15
    # the two ends name each other
    assert acc["ret"]["peer"] == write["local"] and conn[-1]["local"] == write["peer"]


def test_nc_udp_peek_connect_and_exit_by_signal() -> None:
    srv = inet(parse_strace_file(DATA / "nc_udp_server.strace", "h2"))
    cli = inet(parse_strace_file(DATA / "nc_udp_client.strace", "h1"))
    payload = b"hello udp\n"
    sha = hashlib.sha1(payload).hexdigest()[:16]
    peek = next(r for r in srv if r["call"] == "recvfrom")
    assert peek["args"]["flags"] == "MSG_PEEK" and peek["recv_before"] == peek["recv_after"] == 0
    assert peek["dgram"]["sha1"] == sha and peek["dgram"]["len"] == 10
    read = next(r for r in srv if r["call"] == "read")
    assert read["nbytes"] == 10 and read["recv_after"] == 10
    assert read["dgram"]["peer"] == peek["dgram"]["peer"]
    exit_rec = srv[-1]
    assert exit_rec["call"] == "exit" and exit_rec["args"]["signal"] == "SIGTERM"
    write = next(r for r in cli if r["call"] == "write")
    assert write["dgram"] == {"peer": read["local"], "len": 10, "sha1": sha}
    assert write["local"] == read["peer"]


def test_dig_threads_sendmmsg_recvmsg_and_stale_decoration() -> None:
    recs = parse_strace_file(DATA / "dig_udp.strace", "h1")
    assert check_offsets(recs) > 0
    send = next(r for r in recs if r["call"] == "sendmmsg" and r["nbytes"])
    recv = next(r for r in recs if r["call"] == "recvmsg")
    assert send["tid"] != send["pid"]  # dig's worker thread, attributed to the process
    assert send["sock"] == recv["sock"] and send["sock"].startswith(f"{send['pid']}:")
    assert send["dgram"]["len"] == send["nbytes"] and len(send["dgram"]["sha1"]) == 16
    assert recv["dgram"]["peer"] == send["dgram"]["peer"] == send["peer"]
    assert recv["dgram"]["sha1"] is not None
    bind = next(r for r in recs if r["call"] == "bind" and r["sock"] == send["sock"])
    assert bind["args"]["address"] == ["0.0.0.0", 0]
    # strace keeps showing "UDP:[0.0.0.0:port]" after connect(); the port is learnt, the wildcard stays
    # (merge_traces resolves it from the peer); the peer comes from connect(), not the stale text.
    assert send["local"][0] == "0.0.0.0" and send["local"][1] > 0
    assert send["peer"][1] == next(r for r in recs if r["call"] == "connect")["args"]["address"][1]


def test_python_threads_fork_and_bind_before_connect() -> None:
    recs = inet(parse_strace_file(DATA / "py_threads_fork.strace", "h1"))
    assert check_offsets(recs) > 0
    pids = {r["pid"] for r in recs}
    main = min(pids)
    assert len(pids) == 2  # the program and its forked child; the server thread maps to the program
    assert {r["tid"] for r in recs if r["pid"] == main} > {main}
    socks = by_sock(recs)
    first_client = next(s for s, rs in socks.items() if any(r["call"] == "bind" for r in rs)
                        and any(r["call"] == "connect" for r in rs))
    rs = socks[first_client]
    big = next(r for r in rs if r["call"] == "sendto")
    assert big["nbytes"] == 300000 and big["local"][1] != 0
    # stale "-yy" text after bind-before-connect never replaces the peer learnt from connect()
    assert all(r["peer"] == rs[-1]["peer"] for r in rs if r["call"] not in ("socket", "bind"))
    server_side = next(s for s, rs2 in socks.items() if rs2[0]["local"] == rs[-1]["peer"]
                       and rs2[0]["peer"] == big["local"])
    assert sum(r["nbytes"] for r in socks[server_side] if r["call"] == "recvfrom") == 300000
    # the forked child writes on the inherited socket: same socket id, offsets continue in the parent
    child = next(r for r in recs if r["pid"] != main and r["call"] == "sendto")
    parent_send = next(r for r in recs if r["pid"] == main and r["sock"] == child["sock"]
                       and r["call"] == "sendto")
    assert child["sent_before"] == 0 and parent_send["sent_before"] == child["sent_after"] == 15
    exits = [r for r in recs if r["call"] == "exit"]
    assert exits and all(r["pid"] != main and r["args"]["last_ref"] is False for r in exits)
