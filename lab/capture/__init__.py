"""Captures that are confirmed ready before traffic flows and drained before they stop.

dumpcap prints "Capturing on" before it really captures (a quarter second of traffic was lost that way
here), so a capture is only ready once a probe frame sent on each interface is seen in its file, and only
stopped once a final probe shows that everything sent before it has been written.
"""

from lab.capture.dumpcap import Capture, CaptureOptions, CaptureTarget
from lab.capture.probe import PROBE_ETHERTYPE, PROBE_MAGIC
from lab.capture.stats import CaptureStats

__all__ = ["Capture", "CaptureOptions", "CaptureStats", "CaptureTarget", "PROBE_ETHERTYPE", "PROBE_MAGIC"]
