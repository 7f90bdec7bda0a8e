"""``--deep``: let tshark dissect everything Wireshark knows, for the few packets where that matters.

tshark itself (not pyshark's per-packet XML round trip, which runs at ~1k packets/s) is run once over the
file with ``-T fields``; its frame numbers line up with ours except for pcapng custom blocks, which
tshark lists as frames without an interface, and which are skipped here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lab.errors import ToolMissingError


def tshark_protocols(pcap: Path, timeout: float = 600.0) -> dict[int, tuple[str, str]]:
    """Map our frame number -> (tshark frame.protocols, Info column)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        raise ToolMissingError("tshark", "for --deep")
    argv = [tshark, "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
            "-e", "frame.interface_id", "-e", "frame.encap_type", "-e", "frame.protocols",
            "-e", "_ws.col.Info"]
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    rows: dict[int, tuple[str, str]] = {}
    n = 0
    is_ng = pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        while len(parts) < 4:
            parts.append("")
        iid, encap, protocols, info = parts[:4]
        if is_ng and not iid and not encap:
            continue  # a custom block that tshark shows as a frame
        n += 1
        rows[n] = (protocols, info)
    return rows
