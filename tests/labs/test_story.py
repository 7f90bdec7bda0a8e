"""The story: classic flow, observed timeline, and each difference detector on evidence that shows it."""

from __future__ import annotations

from lab.labs import story
from tests.helpers.builders import cause
from tests.helpers.labrecords import H1, H2, Capture, call, echo_session, routed_syn

C, S = (H1, 40000), (H2, 5000)


def test_tell_tcp_has_the_twelve_steps_and_the_timeline() -> None:
    packets, calls = echo_session()
    text = story.tell(packets, calls, "TCP echo")
    assert "The classic 12-step TCP client/server socket flow" in text and "12. server close()" in text
    assert "call #5 accept() -> (<socket fd 4>, ('198.18.0.1', 40000))  [step 4]" in text
    assert "wire frame 1:" in text
    assert "(returns after 9.700 ms)" in text  # accept() blocked until the connection was queued
    # the steps in the classic order, each with the calls that did it
    seen = text.split("Observed calls per step")[1].split("##")[0]
    assert " 3. server listen()             #4 (h2)" in seen
    assert " 6. client connect()            #7 (h1)" in seen
    assert seen.index(" 3. server") < seen.index(" 4. server") < seen.index(" 6. client")
    assert "accept() #5 on h2 took no part in the handshake" in text
    assert "bind() and listen() put nothing on the wire" in text


def test_tell_udp_uses_the_udp_flow() -> None:
    cap = Capture()
    cap.udp((H1, 40000), (H2, 5001), 3)
    cap.udp((H2, 5001), (H1, 40000), 3)
    calls = [call(1, "close", type="SOCK_DGRAM"), call(2, "close", type="SOCK_DGRAM", node="h2")]
    text = story.tell(cap.packets, calls)
    assert "The classic UDP socket flow" in text
    assert "2 UDP datagrams carry the whole exchange" in text and "2 close() calls sent nothing" in text
    # only what the run contains: no ACKs, handshakes or retransmissions in a UDP run
    assert "ACKs" not in text and "handshake answers" not in text and "retransmissions" not in text


def test_kernel_only_names_only_what_the_run_holds() -> None:
    cap = Capture()
    cap.arp(H1, H2)
    cap.udp((H1, 40000), (H2, 5001), 3)
    (note,) = story.kernel_only(cap.packets, [])
    assert note.endswith("address resolution.") and "ACK" not in note and "retrans" not in note


def test_accept_names_the_syn_that_was_answered_not_the_dropped_one() -> None:
    """backlog: SYN frame 1 was dropped (full accept queue), its retransmission frame 2 was answered."""
    cap = Capture()
    cap.tcp(C, S, "SYN", role="syn", seq_raw=9, at=0.0)
    cap.tcp(C, S, "SYN", role="syn", seq_raw=9, at=1.0)
    cap.tcp(S, C, "SYN,ACK", role="syn-ack", seq_raw=50, ack_raw=10, from_client=False, at=1.001,
            cause=cause("kernel", "syn-ack", calls=[], answers=2))
    cap.tcp(C, S, "ACK", role="handshake-ack", seq_raw=10, ack_raw=51, at=1.002,
            cause=cause("kernel", "handshake-ack", calls=[], answers=3))
    calls = [call(5, "accept", node="h2", at=0.5, took=0.6, ret={"fd": 4, "sock": "2:4:1", "peer": list(C)})]
    (note,) = story.accept_after_handshake(cap.packets, calls)
    assert "SYN frame 2 " in note and "SYN frame 1 " not in note and "final ACK frame 4" in note
    counted = story.dropped_syns(cap.packets, calls, {"h2": {"ListenOverflows": 1, "ListenDrops": 1}})
    assert len(counted) == 1 and "why SYN frame 1 " in counted[0] and "ListenOverflows +1" in counted[0]
    assert "retransmitted SYN frame 2 " in counted[0]
    assert story.dropped_syns(cap.packets, calls, {}) == []  # no counter moved: no reason is invented


def test_background_traffic_is_explained() -> None:
    cap = Capture()
    cap.mld("kernel (h1) MLD report")
    (note,) = story.background(cap.packets, [])
    assert "1 MLD reports (first frame 1" in note and "IPv6 requires it" in note
    assert story.background([], []) == []


def test_would_block_tells_eagain_from_einprogress() -> None:
    cap = Capture()
    cap.tcp(C, S, "SYN", role="syn")
    calls = [
        call(1, "recv", exception="BlockingIOError"),
        call(2, "connect", exception="BlockingIOError", local=list(C)),
    ]
    notes = story.would_block(cap.packets, calls)
    assert "1 non-blocking call (recv()) raised BlockingIOError and put nothing on the wire" in notes[0]
    assert "connect() #2 raised BlockingIOError (EINPROGRESS)" in notes[1] and "frame 1" in notes[1]
    assert story.would_block(cap.packets, []) == []


def test_unanswered_syns() -> None:
    cap = Capture()
    cap.tcp(C, S, "SYN", role="syn", seq_raw=9, at=0.0)
    cap.tcp(C, S, "SYN", role="syn", seq_raw=9, at=1.0)
    (note,) = story.unanswered_syns(cap.packets, [])
    assert "SYN frame 2" in note and "repeats SYN frame 1" in note and "1.00 s later" in note
    assert story.unanswered_syns(cap.packets[:1], []) == []


def test_hops_across_routers() -> None:
    (note,) = story.hops(routed_syn().packets, [])
    assert (
        "appears 3 times" in note and "TTL 64 -> 63 -> 62" in note and "3 different Ethernet headers" in note
    )
    packets, calls = echo_session()
    assert story.hops(packets, calls) == []  # one link: nothing to tell


def test_half_close_and_time_wait() -> None:
    cap = Capture()
    cap.tcp(C, S, "FIN,ACK", role="fin", cause=cause("call", "fin-close", calls=[10]))
    cap.tcp(S, C, "PSH,ACK", role="data", length=20, from_client=False)
    calls = [call(10, "shutdown"), call(20, "bind", error="EADDRINUSE", exception="OSError")]
    assert "a FIN closes one direction only" in story.half_closed(cap.packets, calls)[0]
    assert "TIME_WAIT" in story.time_wait(cap.packets, calls)[0]
    assert story.half_closed(cap.packets[:1], calls) == []


def test_segments_vs_calls_and_reset() -> None:
    cap = Capture()
    sent = cause("call", "tcp-data-offset", calls=[8])
    for seq in (1, 1449):
        cap.tcp(C, S, "ACK", role="data", seq=seq, length=1448, cause=sent)
    cap.tcp(S, C, "RST,ACK", role="rst", from_client=False,
            cause=cause("kernel", "rst", "h2 close()", calls=[]))
    calls = [call(8, "sendall", nbytes=2896)]
    assert "left as 2 segments" in story.segments_vs_calls(cap.packets, calls)[0]
    assert "is a RST, not the FIN" in story.reset_instead_of_fin(cap.packets, calls)[0]


def test_lost_copies_are_told_with_their_rule_and_retransmission() -> None:
    cap = Capture()
    rule = "loss 10% on link r1-h2 (nftables)"
    seg = cap.tcp(C, S, "ACK", role="data", seq=1449, length=1448)
    seg["lost"] = {"link": "r1-h2", "seen_last_on": "h1-eth0", "rule": rule, "carried_by": 7}
    ack = cap.tcp(S, C, "ACK", role="ack", from_client=False, iface="r1-eth1")
    ack["lost"] = {"link": "r1-h2", "seen_last_on": "r1-eth1", "rule": rule, "carried_by": None}
    (note,) = story.lost_copies(cap.packets, [])
    assert note.startswith("2 packets never reached the next link (1 of them carried data)")
    assert rule in note and "retransmission frame 7" in note
    assert story.lost_copies(Capture().packets, []) == []


def test_a_retransmitted_syn_lost_on_the_way_is_not_the_handshakes_syn() -> None:
    """lossy-link as it happened once: the SYN-ACK to the first SYN was lost, the client's retransmitted
    SYN was lost too, the server's retransmitted SYN-ACK (answering the first SYN's sequence number) got
    through. The handshake's SYN is the first one: the retransmission never reached the server."""
    cap = Capture()
    rule = "loss 30% on link h1-r1 (nftables)"
    first = cap.tcp(C, S, "SYN", role="syn", seq_raw=1000)
    again = cap.tcp(C, S, "SYN", role="syn", seq_raw=1000, ip_id=2)
    again["lost"] = {"link": "h1-r1", "seen_last_on": "h1-eth0", "rule": rule, "carried_by": None}
    synack = cap.tcp(S, C, "SYN,ACK", role="syn-ack", seq_raw=5000, ack_raw=1001, from_client=False,
                     cause=cause("kernel", "synack-retransmit", "the server's kernel resends", calls=[]))
    ack = cap.tcp(C, S, "ACK", role="handshake-ack", seq_raw=1001, ack_raw=5001,
                  cause=cause("kernel", "handshake-ack", "h1's kernel", answers=synack["number"], calls=[]))
    assert story.handshake_syn(cap.packets, ack) is first
