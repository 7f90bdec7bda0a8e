"""The one seam to the kernel: a backend executes plans and removes what a run created.

``KernelBackend`` uses ``ip -batch`` in the root namespace (namespaces, veths, bridges), then configures all
namespaces from a couple of helper processes (``nshelper.py``: setns + sysctls + offload ioctls + ``ip``/
``tc``/``nft`` batches), in parallel on the machine's cores. ``RecordingBackend`` records the same calls for
unit tests without root (httpx's MockTransport idea).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from lab.emulation.names import ETC_NETNS, NETNS_DIR
from lab.emulation.plan import Plan
from lab.errors import EmulationError, ToolMissingError

HELPER = Path(__file__).with_name("nshelper.py")


class Backend(Protocol):
    def create(self, plan: Plan) -> None: ...

    def destroy(self, namespaces: list[str], etc_dirs: list[str]) -> list[str]: ...


class RecordingBackend:
    """Records plans and teardowns; ``fail_on`` makes ``create`` raise like the kernel refusing a step."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.fail_on = fail_on

    def create(self, plan: Plan) -> None:
        self.calls.append(("create", plan))
        if self.fail_on:
            raise EmulationError(f"{self.fail_on}: refused (recording backend)")

    def destroy(self, namespaces: list[str], etc_dirs: list[str]) -> list[str]:
        self.calls.append(("destroy", (list(namespaces), list(etc_dirs))))
        return []


def _batch(argv: list[str], lines: list[str] | tuple[str, ...], what: str) -> None:
    if not lines:
        return
    proc = subprocess.run(argv, input="".join(f"{x}\n" for x in lines), capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        detail = err[0] if err else "failed"
        for e in err:  # "Command failed -:N" names the failing line
            if e.startswith("Command failed -:"):
                n = int(e.rsplit(":", 1)[1])
                detail = f"{detail} (in: {lines[n - 1]})"
        raise EmulationError(f"{what}: {detail}")


class KernelBackend:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        for tool in ("ip", "tc", "nft"):
            if shutil.which(tool) is None:
                raise ToolMissingError(tool, "to build namespaces")

    def create(self, plan: Plan) -> None:
        # /etc/netns files are only read by `ip netns exec`, i.e. after create() returns: write them while
        # the kernel builds namespaces (hundreds of small files on an overlay /etc take a few 100 ms). The
        # writer is stopped and joined before create() returns or raises, even when interrupted, so that a
        # teardown never runs while it still creates directories.
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            etc = pool.submit(_write_files, plan.etc_files, stop)
            try:
                what = f"run {plan.run_id}: creating namespaces and links"
                _batch(["ip", "-batch", "-"], plan.root_batch, what)
                self._configure(plan)
            except BaseException:
                stop.set()
                raise
            finally:
                _wait_for(etc)
            etc.result()

    def _configure(self, plan: Plan) -> None:
        """Configure every namespace from a few helper processes; raise EmulationError naming the first
        failure. An interrupt (SIGINT/SIGTERM unwinding as an exception) at any moment kills the helpers
        and propagates unchanged: the caller's teardown removes the namespaces."""
        jobs = [j.to_json() for j in plan.jobs]
        n = 1 if len(jobs) <= 8 else self.workers
        chunks = [jobs[k::n] for k in range(n)]
        procs: list[subprocess.Popen] = []
        failures: list[str] = []
        done = False
        try:
            for chunk in chunks:
                p = subprocess.Popen([sys.executable, "-I", "-S", str(HELPER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                procs.append(p)
                p.stdin.write(json.dumps(chunk) + "\n")
                p.stdin.flush()
            failures += [f for p in procs for f in self._read_until(p, "configured")]
            if not failures:
                for p in procs:
                    p.stdin.write("wait\n")
                    p.stdin.flush()
                for p in procs:
                    for line in iter(p.stdout.readline, ""):
                        r = json.loads(line)
                        if r.get("phase") == "ready" and r["missing"]:
                            late = ", ".join(r["missing"][:5])
                            failures.append(f"interfaces not running after 5 s: {late}")
                        if r.get("phase") == "ready":
                            break
            done = True
        finally:
            for p in procs:
                if not done:  # interrupted or broken: the helpers' work is being undone anyway
                    with contextlib.suppress(OSError):
                        p.kill()
                with contextlib.suppress(OSError):
                    p.stdin.close()
                err = p.stderr.read()
                p.wait(timeout=30)
                if done and p.returncode and not failures:
                    last = err.strip().splitlines()[-1:] or [f"exit {p.returncode}"]
                    failures.append(f"namespace helper failed: {last[0]}")
        if failures:
            raise EmulationError(failures[0])

    @staticmethod
    def _read_until(p: subprocess.Popen, phase: str) -> list[str]:
        failures = []
        for line in iter(p.stdout.readline, ""):
            r = json.loads(line)
            if r.get("phase") == phase:
                break
            if not r.get("ok", True):
                failures.append(f"namespace {r['ns']}: {r['step']}: {r['error']}")
        return failures

    def destroy(self, namespaces: list[str], etc_dirs: list[str]) -> list[str]:
        """Kill processes inside the namespaces, delete them and their /etc/netns dirs; return problems."""
        problems = []
        existing = [ns for ns in namespaces if (NETNS_DIR / ns).exists()]
        pids = kill_all(pids_in_namespaces(existing))
        if pids:
            problems.append(f"processes survived SIGKILL: {pids}")
        # tried again for what is left: a Ctrl-C signals the whole process group, so an `ip` running at
        # that instant dies with it
        for attempt in range(3):
            existing = [ns for ns in existing if (NETNS_DIR / ns).exists()]
            if not existing:
                break
            lines = "".join(f"netns del {ns}\n" for ns in existing)
            proc = subprocess.run(["ip", "-force", "-batch", "-"], input=lines, capture_output=True,
                                  text=True, timeout=60)
            if proc.returncode != 0 and attempt == 2:
                err = proc.stderr.strip().splitlines()
                problems.append(err[0] if err else "netns del failed")
        for d in etc_dirs:
            p = Path(d)
            if p.parent == ETC_NETNS and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
        return problems


def pids_of_run(run_id: str) -> list[int]:
    """Processes started for run ``run_id`` outside any namespace of ours (loopback runs), found by the
    ``LAB_RUN=<id>`` that ``Network.popen/run`` and ``lab exec`` put in their environment (inherited by
    their children). A loopback run has no namespace to find them by; this is how ``lab clean`` does.
    """
    marker = f"LAB_RUN={run_id}".encode()
    out = []
    for pid in _other_pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0") and not _zombie(pid):
            out.append(pid)
    return out


def _other_pids() -> list[int]:
    """Every process on the machine but this one (processes may vanish while the caller looks)."""
    me = os.getpid()
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and int(e.name) != me]


def kill_all(pids: list[int], timeout: float = 5.0) -> list[int]:
    """SIGKILL ``pids`` and wait until they are gone; returns the ones that survived."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
        if pids:
            time.sleep(0.01)
    return pids


def _wait_for(future: Future) -> None:
    """Wait until ``future`` is done; a signal arriving meanwhile is raised once it is (not before)."""
    interrupted: BaseException | None = None
    while not future.done():
        try:
            wait([future])
        except BaseException as err:  # KeyboardInterrupt, Terminated: raised after the wait
            interrupted = interrupted or err
    if interrupted is not None:
        raise interrupted


def _write_files(files: dict[str, str], stop: threading.Event) -> None:
    for path, content in files.items():
        if stop.is_set():
            return
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].split()[0] in ("Z", "X")


def pids_in_namespaces(namespaces: list[str]) -> list[int]:
    """Processes whose network namespace is one of ``namespaces`` (like ``ip netns pids``, in one pass)."""
    inodes = {}
    for ns in namespaces:
        try:
            st = os.stat(NETNS_DIR / ns)
        except OSError:
            continue
        inodes[(st.st_dev, st.st_ino)] = ns
    if not inodes:
        return []
    out = []
    for pid in _other_pids():
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in inodes:
            out.append(pid)
    return out
