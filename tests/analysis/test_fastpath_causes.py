"""The fast path's shared cause templates give exactly the cause ``roles.cause_tcp`` builds for a segment.

The fast path makes a TCP cause once per kind of segment, with stand-ins for the sender's endpoint and the
frame it answers, and fills them in per packet; every TCP rule is checked here with a real endpoint and
frame, so a rule whose text grows another per-packet value cannot be shared by mistake.
"""

from __future__ import annotations

import itertools

from lab.analysis.fastpath import _answer_template, _cause_template
from lab.analysis.flows import TcpInfo
from lab.analysis.jsonline import dumps
from lab.analysis.roles import cause_tcp, ep

ROLES = ("syn", "syn-ack", "handshake-ack", "data", "ack", "fin", "rst")
FLAG_SETS = ((), ("retransmission",), ("fast_retransmission", "retransmission"), ("keep_alive",),
             ("window_update",), ("keep_alive_ack",), ("zero_window_probe_ack",), ("duplicate_ack",),
             ("zero_window",), ("lost_segment",))
SRC, SPORT = "198.18.3.7", 40123


def _info(role: str, from_client: bool, first_data: bool, analysis: tuple[str, ...], answers: int | None
          ) -> TcpInfo:
    info = TcpInfo()
    info.role, info.from_client, info.first_data = role, from_client, first_data
    info.analysis, info.answers = list(analysis), answers
    return info


def _kinds() -> itertools.product:
    return itertools.product(ROLES, (True, False), (True, False), FLAG_SETS)


def test_templates_of_unanswering_segments_fill_in_to_the_rules_cause() -> None:
    me = ep(SRC, SPORT)
    shared = 0
    for role, from_client, first_data, analysis in _kinds():
        info = _info(role, from_client, first_data, analysis, None)
        want = cause_tcp(SRC, SPORT, info)
        tmpl = _cause_template(info)
        if tmpl is None:
            continue
        jh, jt, th, tt, source = tmpl
        assert jh + me.encode() + jt == dumps(want), (role, analysis)
        assert (th + me + tt, source) == (want["text"], want["source"]), (role, analysis)
        shared += 1
    assert shared >= 100  # nearly every kind is shared: the fast path's point


def test_templates_of_answering_segments_fill_in_to_the_rules_cause() -> None:
    me = ep(SRC, SPORT)
    shared = refused = 0
    for (role, from_client, first_data, analysis), frame in itertools.product(_kinds(), (1, 9, 123456)):
        info = _info(role, from_client, first_data, analysis, frame)
        want = cause_tcp(SRC, SPORT, info)
        tmpl = _answer_template(info)
        if tmpl is None:
            # only a cause that names the sender's port apart from its endpoint cannot be shared
            assert str(SPORT) in want["text"].replace(me, ""), (role, analysis)
            refused += 1
            continue
        jf, tf, source = tmpl
        assert jf % {b"me": me.encode(), b"ans": frame} == dumps(want), (role, analysis, frame)
        assert (tf % {"me": me, "ans": frame}, source) == (want["text"], want["source"]), (role, analysis)
        shared += 1
    assert shared >= 100
    assert refused > 0  # "no socket listening on port N" (a refused connection's RST) is made per packet
