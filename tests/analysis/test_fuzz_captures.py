"""Fuzzing ``lab analyze``: seeded mutations of the public corpus and of captures the lab made.

For every mutant: no traceback, ever -- either an analysis (exit 0 in the CLI) or one ``LabError`` line;
and whenever the analysis succeeds, ``annotated.pcapng`` is readable by Wireshark's reader: all of them
in one ``capinfos`` run (the same wiretap library tshark reads with, one process for hundreds of files),
and a sample with ``tshark -r`` itself.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import traceback
from pathlib import Path

import pytest

from lab.analysis.pipeline import analyze_capture
from lab.errors import LabError
from tests.helpers.fuzzing import mutants

DATA = Path(__file__).resolve().parent.parent / "data"
LAB_MADE = [DATA / "tcp-echo-run" / "capture.pcapng", DATA / "udp-echo-run" / "capture.pcapng",
            DATA / "routed" / "capture.pcapng"]
SEED = 1
COUNT = 200


def test_mutated_captures_never_crash_and_their_annotations_open_in_tshark(tmp_path: Path,
                                                                           corpus_dir: Path) -> None:
    capinfos, tshark = shutil.which("capinfos"), shutil.which("tshark")
    if capinfos is None or tshark is None:
        pytest.skip("capinfos/tshark not installed (run make setup)")
    sources = sorted((corpus_dir / "pcaps").iterdir()) + LAB_MADE
    assert len(sources) > 20
    crashes: list[str] = []
    accepted: list[tuple[str, Path]] = []
    refused = 0
    for k, (mid, path) in enumerate(mutants(sources, COUNT, SEED, tmp_path / "in")):
        out = tmp_path / "out" / path.name
        try:  # every tenth through the two-process path, which writes the outputs in another process
            analyze_capture(path, out, progress=False, render_process=k % 10 == 0)
        except LabError as err:
            refused += 1
            if "\n" in str(err) or not str(err):
                crashes.append(f"{mid}: not one line: {err!r}")
        except Exception:  # noqa: BLE001 - what the test is looking for
            crashes.append(f"{mid}: {traceback.format_exc(limit=4)}")
        else:
            accepted.append((mid, out / "annotated.pcapng"))
    assert not crashes, "\n".join(crashes[:5])
    assert len(accepted) > COUNT // 2 and refused > 0, (len(accepted), refused)

    result = subprocess.run([capinfos, "-c", "-M", *(str(p) for _, p in accepted)], capture_output=True,
                            text=True, timeout=300)
    unreadable = [line for line in result.stderr.splitlines() if "capinfos:" in line]
    ids = {str(p): mid for mid, p in accepted}
    named = [f"{ids.get(w, '?')}: {line}" for line in unreadable for w in ids if w in line]
    assert result.returncode == 0 and not unreadable, "\n".join(named[:10] or unreadable[:10])
    counted = result.stdout.count("Number of packets")
    assert counted == len(accepted), (counted, len(accepted))

    for _mid, annotated in random.Random(SEED).sample(accepted, 8):
        read = subprocess.run([tshark, "-r", str(annotated), "-c", "50"], capture_output=True, text=True,
                              timeout=60)
        assert read.returncode == 0, (annotated, read.stderr)
