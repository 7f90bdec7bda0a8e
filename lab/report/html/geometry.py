"""Where things go in the sequence diagram: lanes, rows, arrow labels. Pure functions, unit-tested.

The diagram is a grid: one lane (lifeline) per node, left to right, and one row per event (a packet hop, a
call's start, a call's return) in time order. One event per row is what keeps labels of simultaneous
events from ever overlapping (two frames captured in the same microsecond get two rows), and drawing rows
by index is what lets the page draw only the rows in view of a 200,000-packet analysis. An arrow's label
sits above its arrow and is cut to the arrow's length, so it never reaches into the next lane's label.
The page's JavaScript draws from these numbers; it does no layout of its own.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LANE_W = 180  # px between two lifelines at least: room for a label of about 26 characters
MAX_LANE_W = 260  # px at most (a two-host lab gets wide lanes: its labels are read whole)
DIAGRAM_W = 780  # px the lanes share before they fall back to LANE_W each
LEFT = 70  # px left of the first lifeline (time column)
ROW_H = 24  # px per event row
CHAR_W = 6.6  # px per character at the page's 11 px monospace label font
LABEL_PAD = 8  # px kept free at each end of an arrow

# the order of events that share one timestamp: a call starts, then its packets, then it returns
CALL_START, PACKET, CALL_END = 0, 1, 2


@dataclass(frozen=True)
class Event:
    ts_ns: int
    kind: int  # CALL_START, PACKET or CALL_END
    ref: int  # index into the packet or call table

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.ts_ns, self.kind, self.ref)


def lane_width(lanes: int) -> float:
    """px between two lifelines for a diagram of ``lanes`` lanes."""
    return float(min(MAX_LANE_W, max(LANE_W, DIAGRAM_W // max(lanes, 1))))


def lane_x(index: int, width: float = LANE_W) -> float:
    """The x of lane ``index``'s lifeline, lanes ``width`` apart."""
    return LEFT + index * width + width / 2


def diagram_width(lanes: int) -> float:
    return LEFT + max(lanes, 1) * lane_width(lanes)


def order_events(events: Iterable[Event]) -> list[Event]:
    """Rows in time order; at equal times a call's start comes before, and its return after, the packets
    (a packet its call put on the wire is never drawn above the call)."""
    return sorted(events, key=lambda e: e.key)


def order_columns(ts_ns: Sequence[int], kinds: Sequence[int], refs: Sequence[int]) -> tuple[array, array]:
    """``order_events`` for a whole diagram at once, as columns: the rows' kinds and refs in the same
    order, with no object per event (a 200,000-packet page has 200,000 rows). Each event is one integer
    whose order is the order of ``Event.key`` (time, then kind, then ref): its time above bit 34, its kind
    in bits 32-33, its ref (an index below 2**32) below."""
    base = min(ts_ns, default=0)
    packed = sorted(((t - base) << 34) | (k << 32) | r for t, k, r in zip(ts_ns, kinds, refs, strict=True))
    return array("b", [(p >> 32) & 3 for p in packed]), array("i", [p & 0xFFFFFFFF for p in packed])


def fit_label(text: str, span_px: float) -> str:
    """``text`` cut (with an ellipsis) to fit above an arrow ``span_px`` long; full text is on hover."""
    room = int((span_px - 2 * LABEL_PAD) // CHAR_W)
    if room <= 1:
        return ""
    return text if len(text) <= room else text[: room - 1] + "…"


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


def label_box(row: int, src_lane: int, dst_lane: int, label: str, width: float = LANE_W) -> Box:
    """The rectangle an arrow label occupies (centred on the arrow, in the upper part of its row)."""
    a, b = sorted((lane_x(src_lane, width), lane_x(dst_lane, width)))
    mid = (a + b) / 2
    half = len(label) * CHAR_W / 2
    top = row * ROW_H + 1
    return Box(mid - half, top, mid + half, top + ROW_H / 2 + 1)


def row_y(row: int) -> float:
    """The y of the arrow in row ``row`` (the label sits above it)."""
    return row * ROW_H + ROW_H * 0.7
