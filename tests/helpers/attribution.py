"""The attribution's view of the complete records (``tests.helpers.builders``): a packet as the pipeline
hands it to the attribution, before it has a cause; a call as the attribution's tests write it; and
``CheckedAttributor``, which checks what goes in and what comes out against the shipped schema.

The attribution reads records by their schema (``lab.records``): Required keys by subscript, NotRequired
ones once with ``.get``. A partial fixture would hide a missing key, or make the rules trip over one a
real record always has, so every record here is a whole one: every key of ``PacketRecord`` but ``cause``,
which is the attribution's to decide.
"""

from __future__ import annotations

from typing import Any

from lab.analysis.attribution import Attributor
from lab.records import CallRecord, PacketRecord
from tests.helpers import builders
from tests.helpers.records import assert_valid

UNDECIDED = builders.cause("unexplained", "unknown", "not attributed yet")
"""A stand-in cause for validating a record before the attribution decides its cause."""


def assert_packet_valid(rec: PacketRecord | dict[str, Any]) -> None:
    """A packet record as the attribution gets it (no ``cause`` yet) is valid once it has one."""
    assert "cause" not in rec, "the attribution decides the cause: a fixture packet has none"
    assert_valid("packet", {**rec, "cause": UNDECIDED})


def packet_record(**fields: Any) -> PacketRecord:
    """A packet record as the pipeline hands it to the attribution (``builders.packet`` without its
    ``cause``): frame 0 at time 0 on h1-eth0 of no known node, empty, unless ``fields`` say else."""
    assert "cause" not in fields, "the attribution decides the cause: a fixture packet has none"
    defaults = {"number": 0, "ts_ns": 0, "t": None, "node": None, "len": 0, "caplen": 0, "summary": ""}
    rec = builders.packet(**{**defaults, **fields, "cause": UNDECIDED})
    del rec["cause"]  # type: ignore[misc]
    return rec


def call(i: int, node: str, sock: str | None, name: str, t: int, **kw: Any) -> CallRecord:
    """Call ``i`` of ``node`` (pid 1 on h1, 2 elsewhere) on ``sock``, from ``t`` for 1000 ns, returning 0,
    its byte counters at 0 (``builders.call``: a TCP socket unless ``type`` says otherwise)."""
    pid = 1 if node == "h1" else 2
    fields = {"id": i, "node": node, "pid": pid, "tid": pid, "sock": sock, "ret": 0, "t_start_ns": t,
              "t_end_ns": t + 1000, "sent_before": 0, "sent_after": 0, "recv_before": 0, "recv_after": 0}
    return builders.call(name, **{**fields, **kw})


class CheckedAttributor(Attributor):
    """The ``Attributor``, checking the records it is given and the ones it completes against the schema:
    every call, every packet before (no cause) and after (with its cause, and ``lost`` when it was)."""

    def __init__(self, calls: Any, **kw: Any) -> None:
        calls = list(calls)
        for c in calls:
            assert_valid("call", c)
        super().__init__(calls, **kw)
        self.checked = 0

    def cause(self, rec: PacketRecord, frame: bytes | None = None) -> dict[str, Any]:
        assert_packet_valid(rec)
        cause = super().cause(rec, frame)
        assert_valid("packet", {**rec, "cause": cause})
        self.checked += 1
        return cause
