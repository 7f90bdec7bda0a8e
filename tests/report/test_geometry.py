"""Sequence-diagram geometry: rows in time order, one event per row, labels that never overlap."""

from __future__ import annotations

import itertools

from lab.report.html import geometry
from lab.report.html.geometry import CALL_END, CALL_START, PACKET, Event


def test_rows_follow_time_and_a_call_frames_its_simultaneous_packets() -> None:
    t = 1_000
    events = [Event(t, CALL_END, 0), Event(t, PACKET, 1), Event(t - 5, PACKET, 0), Event(t, CALL_START, 1),
              Event(t + 1, PACKET, 2)]
    ordered = geometry.order_events(events)
    assert [e.ts_ns for e in ordered] == sorted(e.ts_ns for e in events)
    same = [e.kind for e in ordered if e.ts_ns == t]
    assert same == [CALL_START, PACKET, CALL_END]


def test_simultaneous_arrow_labels_do_not_overlap() -> None:
    """Ten packets captured in the same nanosecond between every pair of 4 lanes: each gets its own row, and
    no two label boxes intersect (nor does a label leave its arrow's span)."""
    lanes = 4
    width = geometry.lane_width(lanes)
    pairs = [(a, b) for a, b in itertools.permutations(range(lanes), 2)][:10]
    events = geometry.order_events(Event(5, PACKET, i) for i in range(len(pairs)))
    boxes = []
    for row, ev in enumerate(events):
        src, dst = pairs[ev.ref]
        span = abs(geometry.lane_x(src, width) - geometry.lane_x(dst, width))
        label = geometry.fit_label(f"#{ev.ref} PSH,ACK seq=123456 ack=654321 len=1448 and a long tail", span)
        assert label and len(label) * geometry.CHAR_W <= span - 2 * geometry.LABEL_PAD
        box = geometry.label_box(row, src, dst, label, width)
        lo, hi = sorted((geometry.lane_x(src, width), geometry.lane_x(dst, width)))
        assert lo <= box.x0 and box.x1 <= hi
        boxes.append(box)
    assert len(boxes) == len(pairs) == 10
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


def test_a_label_that_fits_is_kept_whole_and_a_long_one_is_cut() -> None:
    assert geometry.fit_label("#7 SYN", 300) == "#7 SYN"
    cut = geometry.fit_label("x" * 200, 180)
    assert cut.endswith("…") and len(cut) * geometry.CHAR_W <= 180 - 2 * geometry.LABEL_PAD
    assert geometry.fit_label("anything", 10) == ""


def test_lanes_get_wider_when_there_are_few() -> None:
    assert geometry.lane_width(2) == geometry.MAX_LANE_W
    assert geometry.lane_width(12) == geometry.LANE_W
    assert geometry.lane_x(1, 200) - geometry.lane_x(0, 200) == 200


def test_rows_as_columns_are_the_rows_as_events() -> None:
    """``order_columns`` (the page's way: packed integers, no object per row) orders exactly as
    ``order_events``: by time, then kind, then ref; with ties, negative times and times beyond 64 bits."""
    import random

    rng = random.Random(7)
    times = [rng.choice([-5, 0, 0, 3, 10**22, 17]) + rng.randrange(3) for _ in range(500)]
    kinds = [rng.choice([CALL_START, PACKET, CALL_END]) for _ in times]
    refs = [rng.randrange(2**31) for _ in times]
    k, r = geometry.order_columns(times, kinds, refs)
    expected = geometry.order_events(Event(t, kd, rf) for t, kd, rf in zip(times, kinds, refs, strict=True))
    assert len(expected) == 500 and len({e.ts_ns for e in expected}) > 10
    assert list(k) == [e.kind for e in expected] and list(r) == [e.ref for e in expected]
    assert [list(c) for c in geometry.order_columns([], [], [])] == [[], []]
