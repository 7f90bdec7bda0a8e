"""Benchmark: report.html for 1k, 10k and 200k packets -- time to write it, its size, and the time until
the page is interactive in Chromium (and stays so: a scroll to the middle and a click on a packet there).

The captures are real traffic made in namespaces by :mod:`bench.bench_analyze` (cached under
``bench/out/``, root needed the first time); the 1k and 10k ones are its first packets (``editcap -r``).
Each is analyzed once (``analyze_capture``, not timed here: bench_analyze times it), then:
* write: ``write_report`` (read and check packets.jsonl, read the capture's bytes, build the page data,
  write the file), the shortest of three runs;
* cpu, peak: the same in a fresh process (``python -m lab show DIR --html``): its CPU seconds and its
  peak resident memory as the kernel accounts them (``wait4``), the page's cost on top of the analysis;
* interactive: from ``page.goto`` until the page's own scripts have drawn the diagram and set
  ``body[data-ready]`` (JSON parsed, filters applied, first event selected), in Debian's chromium;
* responsive: scrolling the sequence diagram to the middle and selecting the packet there, measured in
  the page (``performance.now()``), so a frozen page would show here.

Run: ``.venv/bin/python -m bench report``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_analyze import OUT, make_capture

SIZES = {"1k": 1_000, "10k": 10_000, "200k": 200_000}
CHROMIUM = "/usr/bin/chromium"


def _capture_for(name: str, count: int, big: Path) -> Path:
    if name == "200k":
        return big
    path = OUT / f"report-{name}.pcapng"
    if not path.exists():
        subprocess.run(["editcap", "-r", str(big), str(path), f"1-{count}"], check=True, timeout=300)
    return path


def _fresh_process(out: Path) -> tuple[float, float]:
    """(CPU seconds, peak MiB) of writing the page in a process of its own."""
    argv = [sys.executable, "-m", "lab", "show", str(out), "--html"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"lab show {out} --html exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _open_in_browser(browser: Any, page_path: Path) -> tuple[float, float]:
    """(seconds until interactive, milliseconds for scroll-to-middle + select) in headless chromium."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    try:
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        start = time.perf_counter()
        page.goto(page_path.as_uri(), timeout=600_000)
        page.wait_for_selector("body[data-ready='1']", timeout=600_000)
        ready = time.perf_counter() - start
        react = page.evaluate("""() => {
          const t = performance.now();
          const box = document.getElementById('seq');
          box.scrollTop = box.scrollHeight / 2; LAB.sequence.draw();
          const g = document.querySelector('#seq-svg g.pk');
          LAB.selectEvent(Number(g.dataset.ev));
          return performance.now() - t;
        }""")
    finally:
        page.close()
    return ready, float(react)


def main() -> int:
    from playwright.sync_api import sync_playwright

    from lab.analysis.pipeline import analyze_capture
    from lab.report.html.page import write_report

    OUT.mkdir(parents=True, exist_ok=True)
    big = OUT / "analyze-200k.pcapng"
    if not big.exists():
        print(f"making {big.name} (real traffic in namespaces) ...", flush=True)
        make_capture(big, 1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        warm = browser.new_page()  # the browser's own start-up is not the page's
        warm.set_content("<p>warm up</p>")
        warm.close()
        for name, count in SIZES.items():
            cap = _capture_for(name, count, big)
            out = Path(tmp) / name
            analyze_capture(cap, out, progress=False)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                page = write_report(out)
                times.append(time.perf_counter() - start)
            packets = sum(1 for line in (out / "packets.jsonl").open() if line.strip())
            cpu, peak = _fresh_process(out)
            ready, react = _open_in_browser(browser, page)
            rows.append((name, packets, min(times), cpu, peak, page.stat().st_size, ready, react))
        browser.close()
    print(f"\n{'capture':8} {'packets':>9} {'write s':>8} {'cpu s':>6} {'peak MiB':>9} {'page MiB':>9} "
          f"{'interactive s':>14} {'scroll+select ms':>17}")
    for name, packets, t, cpu, peak, size, ready, react in rows:
        print(f"{name:8} {packets:>9,} {t:>8.2f} {cpu:>6.2f} {peak:>9.0f} {size / 2**20:>9.1f} "
              f"{ready:>14.2f} {react:>17.1f}")
    print("write: shortest of 3 runs of write_report; cpu, peak: `lab show DIR --html` in a fresh process "
          "(CPU s, peak RSS); interactive: goto until the page's scripts are done, in Debian's chromium "
          "(headless); scroll+select: scroll to the middle, select a packet there.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
