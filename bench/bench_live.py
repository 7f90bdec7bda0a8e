"""Live sessions (``lab up``, ``lab explain``, ``lab watch``): what a session costs, what watch keeps up with.

Measured on a real ``lab up two-hosts`` session: bursts of UDP datagrams from h1 to h2 (an untraced Python
sender, so the figures are the capture's and the analysis's, not the tracer's), then after each burst

* the session's disk use per packet (the raw capture dumpcap keeps growing, plus the traces) and the
  keeper's and dumpcap's resident memory: how long a session can run;
* one ``lab watch`` tick (snapshot of the raw files + analysis of the whole session so far) and one
  ``lab explain`` (probe-confirmed snapshot, analysis, ladder, report.html): how far behind the display
  falls as the session grows. Watch re-analyzes the whole session each tick, so its tick time grows with
  the session; it keeps up (one look per tick interval) while the tick is shorter than the interval.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BURSTS = (2_000, 8_000, 20_000)  # packets added before each measurement (cumulative 2k, 10k, 30k)
SENDER = ("import socket, sys\n"
          "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "for i in range(int(sys.argv[1])):\n"
          "    s.sendto(b'x' * 64, ('198.18.0.2', 9))\n")


def _lab(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "lab", *args], check=True, capture_output=True, text=True,
                          timeout=600).stdout


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _dumpcap_pids(live: Path) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "dumpcap" in line and str(live) in line]


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    from lab.live import LiveDir
    from lab.watch import Watcher

    run_id = f"bl{int(time.time()) % 100000}"
    with tempfile.TemporaryDirectory(prefix="lab-bench-live-") as tmp:
        live = Path(tmp) / "live"
        _lab("up", "two-hosts", "--run-id", run_id, "--out", str(live))
        try:
            session = LiveDir(live)
            keeper = session.session()["keeper_pid"]
            watcher = Watcher(session)
            watcher.tick()
            sent = 0
            print(f"{'packets':>8} {'disk MiB':>9} {'B/packet':>9} {'keeper+dumpcap RSS MiB':>23} "
                  f"{'watch tick s':>13} {'explain s':>10}")
            for burst in BURSTS:
                _lab("exec", "--no-trace", run_id, "h1", "--", sys.executable, "-c", SENDER, str(burst))
                sent += burst
                time.sleep(0.5)
                started = time.perf_counter()
                watcher.tick()
                tick_s = time.perf_counter() - started
                started = time.perf_counter()
                _lab("explain", run_id)
                explain_s = time.perf_counter() - started
                packets = json.loads((live / "report.json").read_text())["packets"]
                raw = sum(p.stat().st_size for p in (live / "work").glob("cap-*.pcapng"))
                rss = (_rss_kib(keeper) + sum(_rss_kib(p) for p in _dumpcap_pids(live))) / 1024
                print(f"{packets:>8} {_disk(live) / 2**20:>9.1f} {raw / max(packets, 1):>9.0f} {rss:>23.1f} "
                      f"{tick_s:>13.2f} {explain_s:>10.2f}")
            print(f"sent {sent} datagrams; the raw capture grows by the bytes per packet shown (the session "
                  "directory also holds each explain's outputs); watch keeps up with a session while its "
                  "tick stays under its interval (0.25 s by default, stretched to twice the tick)")
        finally:
            _lab("down", run_id, "--no-explain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
