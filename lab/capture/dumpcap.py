"""One dumpcap per namespace, confirmed by probes, merged into one pcapng with meaningful interface names.

Why dumpcap: it lost nothing at 480k packets/s here, where scapy's sniffer tops out near 8k/s. Why one
process per namespace: an interface can only be opened from inside its namespace. Why the IDB rename: the
interfaces inside different namespaces may share a name (``eth0``); after merging, each interface block
carries the capture point's label (``h1-eth0``) so a packet's interface says which node saw it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lab.capture.idb import rename_interfaces
from lab.capture.probe import TEMPFAIL, probe_payload
from lab.capture.stats import CaptureStats, InterfaceCounts, combine, read_isb, read_log
from lab.errors import CaptureError, LabError, PcapFormatError, ToolMissingError, UsageError

_PR_SET_PDEATHSIG = 1
_PROBE_TIMEOUT = 10.0  # seconds for one probe sender (a Python start-up inside a namespace)
_MERGE_TIMEOUT = 120.0
# dumpcap's kernel buffer per interface (-B, MiB). Its default of 2 MiB overflowed within a fraction of a
# second of a bulk TCP transfer here (bench/bench_capture.py); a larger buffer absorbs bursts while dumpcap
# writes. The budget is shared by all capture points of a run, so a 1,000-node topology does not ask the
# kernel for gigabytes; each point gets at least dumpcap's own default.
BUFFER_BUDGET_MIB = 512
BUFFER_MAX_MIB = 64
BUFFER_MIN_MIB = 2
# Ethernet (14) + IPv6 (40) + TCP with options (60): a shorter snap length would cut headers the analysis
# reads (sequence numbers, ports, lengths)
SNAPLEN_MIN = 114


def buffer_per_interface(points: int) -> int:
    """The automatic -B for each of ``points`` capture points: the budget shared, within [min, max]."""
    return max(BUFFER_MIN_MIB, min(BUFFER_MAX_MIB, BUFFER_BUDGET_MIB // max(points, 1)))


@dataclass(frozen=True)
class CaptureTarget:
    """Where to capture: an interface in a namespace (None = the current one) and its display label."""

    namespace: str | None
    ifname: str
    label: str
    bpf: str | None = None


@dataclass(frozen=True)
class CaptureOptions:
    """How hard dumpcap holds on to packets: its kernel buffer per interface and its snap length.

    ``buffer_mib`` None = ``buffer_per_interface`` (automatic). ``snaplen`` None = whole packets; a short
    one (e.g. 128) keeps the headers of a bulk transfer at a fraction of the bytes to write, at a price: the
    payload beyond it is not kept (see README, "Capture loss").
    """

    buffer_mib: int | None = None
    snaplen: int | None = None

    def __post_init__(self) -> None:
        if self.buffer_mib is not None and not 1 <= self.buffer_mib <= 4096:
            raise UsageError(f"capture buffer {self.buffer_mib} MiB: choose 1..4096")
        if self.snaplen is not None and not SNAPLEN_MIN <= self.snaplen <= 262144:
            raise UsageError(
                f"snap length {self.snaplen}: choose {SNAPLEN_MIN}..262144 (below {SNAPLEN_MIN} bytes the "
                "IP and TCP headers themselves would be cut)"
            )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A capture must not outlive the run that started it, even when that run is SIGKILLed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _in_namespace(namespace: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv] if namespace else argv


def complete_blocks(data: bytes) -> bytes:
    """The longest prefix of a pcapng file made of whole blocks (a file still being written may end in
    half a block; mergecap would call it cut short)."""
    if len(data) < 12:
        return b""
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(order + "I", data, pos + 4)
        if length < 12 or length % 4 or pos + length > len(data):
            break
        pos += length
    return data[:pos]


@dataclass
class _Group:
    """The interfaces of one namespace, captured by one dumpcap into one file."""

    namespace: str | None
    targets: list[CaptureTarget]
    file: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    offset: int = 0
    tail: bytes = b""

    def seen(self, needles: set[bytes]) -> set[bytes]:
        """Which needles appeared in the file since the last look (files are only appended to)."""
        try:
            with self.file.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return set()
        self.offset += len(data)
        window = self.tail + data
        self.tail = window[-256:]  # longer than any needle, so one split across two reads is still found
        return {n for n in needles if n in window}


class Capture:
    """Capture the given targets into ``out_file``; use as a context manager around the traffic.

    The capture is merged and written even when the body raises or the final probe is not confirmed, so an
    error never loses packets. After a successful merge the per-namespace raw files are deleted (they hold
    the same packets); the dumpcap logs stay in ``work_dir``.
    """

    def __init__(
        self,
        targets: Iterable[CaptureTarget],
        out_file: Path,
        work_dir: Path,
        *,
        python: str = sys.executable,
        ready_timeout: float = 10.0,
        buffer_mib: int | None = None,
        snaplen: int | None = None,
    ) -> None:
        self.targets = list(targets)
        if not self.targets:
            raise CaptureError("nothing to capture: no capture points")
        self.out_file = out_file
        self.work_dir = work_dir
        self.python = python
        self.ready_timeout = ready_timeout
        self.buffer_mib = buffer_mib or buffer_per_interface(len(self.targets))
        self.snaplen = snaplen
        self.stats: CaptureStats | None = None  # set by stop(): what each point received and dropped
        self._groups: list[_Group] = []
        self._probe_seq = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop(drain=exc_type is None)
        except LabError as err:
            if exc is None:
                raise
            # the body's error came first and stays the one raised; the capture's own failure goes with it
            exc.add_note(f"capture: {err}")

    def start(self) -> None:
        dumpcap = shutil.which("dumpcap")
        if dumpcap is None:
            raise ToolMissingError("dumpcap", "to capture packets")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        by_ns: dict[str | None, list[CaptureTarget]] = {}
        for target in self.targets:
            by_ns.setdefault(target.namespace, []).append(target)
        try:
            for n, (namespace, targets) in enumerate(by_ns.items()):
                group = _Group(
                    namespace, targets, self.work_dir / f"cap-{n}.pcapng", self.work_dir / f"dumpcap-{n}.log"
                )
                with group.log.open("wb") as log:
                    group.proc = subprocess.Popen(
                        _in_namespace(namespace, self.dumpcap_argv(dumpcap, targets, group.file)),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        preexec_fn=_die_with_parent,
                        start_new_session=True,
                    )
                self._groups.append(group)
            self._confirm("start", self.ready_timeout)
        except BaseException:
            self._terminate()
            raise

    def dumpcap_argv(self, dumpcap: str, targets: list[CaptureTarget], file: Path) -> list[str]:
        """One dumpcap for ``targets`` (one namespace): -B and -s follow each -i, as dumpcap applies them
        to the interface named before them; ``-q`` still leaves the closing statistics lines in the log."""
        argv = [dumpcap, "-q"]
        for target in targets:
            argv += ["-i", target.ifname, "-B", str(self.buffer_mib)]
            if self.snaplen:
                argv += ["-s", str(self.snaplen)]
            if target.bpf:
                # probes must pass any capture filter, or readiness could never be confirmed
                argv += ["-f", f"({target.bpf}) or ether proto 0x88b5"]
        return [*argv, "-w", str(file)]

    def stop(self, *, drain: bool = True) -> Path:
        """Confirm everything sent so far is on disk (a last probe), stop dumpcap, merge, name interfaces.

        The merge happens even when the last probe is not confirmed; that error is raised afterwards (it
        wins over a merge error, being the first thing that went wrong).
        """
        if not self._groups:
            return self.out_file
        failure: BaseException | None = None
        try:
            if drain:
                self._confirm("stop", 5.0)
        except BaseException as err:  # re-raised below, once the packets are saved
            failure = err
        try:
            self._terminate()
            self.stats = self._read_stats()
            self._merge()
        except LabError as merge_err:
            if failure is None:
                raise
            if isinstance(failure, LabError):
                raise CaptureError(f"{failure}; the merge failed too: {merge_err}") from failure
            failure.add_note(f"the capture merge failed too: {merge_err}")
        finally:
            self._groups = []
        if failure is not None:
            raise failure
        return self.out_file

    # -- internals ---------------------------------------------------------------------------------------
    def _confirm(self, phase: str, timeout: float) -> None:
        """Send probes until each interface's probe is in its file: proof that dumpcap is really capturing."""
        self._probe_seq += 1
        token = f"{phase}-{os.getpid()}-{self._probe_seq}".encode()
        pending = {id(g): {probe_payload(token, t.ifname) for t in g.targets} for g in self._groups}
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while True:
            for group in self._groups:
                if group.proc is not None and group.proc.poll() is not None:
                    raise CaptureError(f"dumpcap stopped on {self._where(group)}: {self._log_tail(group)}")
                pending[id(group)] -= group.seen(pending[id(group)])
            waiting = [g for g in self._groups if pending[id(g)]]
            if not waiting:
                return
            now = time.monotonic()
            if now > deadline:
                where = ", ".join(self._where(g) for g in waiting)
                raise CaptureError(
                    f"capture not confirmed on {where} within {timeout:.0f}s ({phase} probe "
                    f"never seen); dumpcap said: {self._log_tail(waiting[0])}"
                )
            if now >= next_send:
                for group in waiting:
                    self._send_probe(group, token)
                next_send = now + 0.25
            time.sleep(0.01)

    def _send_probe(self, group: _Group, token: bytes) -> None:
        ifnames = [t.ifname for t in group.targets]
        if group.namespace is None:
            from lab.capture.probe import send_probes

            send_probes(ifnames, token)
            return
        probe = [self.python, "-m", "lab.capture.probe", token.decode(), *ifnames]
        argv = _in_namespace(group.namespace, probe)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=_PROBE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CaptureError(
                f"the capture probe sender in {group.namespace} did not finish within {_PROBE_TIMEOUT:g}s"
            ) from None
        if done.returncode == TEMPFAIL:
            return  # the kernel could not queue it this time (ENOBUFS): the confirm loop sends again
        if done.returncode != 0:
            raise CaptureError(
                f"could not send a capture probe in {group.namespace}: "
                f"{done.stderr.decode(errors='replace').strip()[-200:]}"
            )

    def _terminate(self) -> None:
        for group in self._groups:
            proc = group.proc
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGINT)  # dumpcap finishes the file (interface statistics) on SIGINT
        for group in self._groups:
            proc = group.proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                # stuck in the kernel even after SIGKILL: nothing more a user process can do, and the merge
                # still saves what it wrote; a TimeoutExpired escaping here would skip that merge
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)

    def _read_stats(self) -> CaptureStats:
        """Each point's received/dropped counts, from its group's statistics blocks and dumpcap's log."""
        counts: dict[str, InterfaceCounts] = {}
        for group in self._groups:
            isb = read_isb(group.file)
            try:
                log = read_log(group.log.read_text(errors="replace"))
            except OSError:
                log = {}
            for index, target in enumerate(group.targets):  # dumpcap writes one IDB per -i, in order
                said = log.get(target.ifname) or next(  # the log may prefix a description ("Loopback: lo")
                    (c for name, c in log.items() if name.endswith(f": {target.ifname}")), None
                )
                counts[target.label] = combine(isb.get(index), said)
        return CaptureStats(counts)

    def snapshot(self, dest: Path) -> Path:
        """Write what has been captured so far into ``dest`` without stopping (a live session's ``lab
        explain``): a probe first proves that everything sent before this call is on disk, then each
        file's complete blocks are copied (dumpcap may be writing the next one) and merged as ``stop``
        merges. The interface statistics (drop counts) exist only once dumpcap stops."""
        if not self._groups:
            raise CaptureError("the capture is not running")
        self._confirm("snapshot", 5.0)
        copies = []
        for n, group in enumerate(self._groups):
            copy = self.work_dir / f"snapshot-{n}.pcapng"
            copy.write_bytes(complete_blocks(group.file.read_bytes()))
            copies.append(copy)
        try:
            self._merge(copies, dest)
        finally:
            for copy in copies:
                copy.unlink(missing_ok=True)
        return dest

    def _merge(self, files: list[Path] | None = None, out_file: Path | None = None) -> None:
        out_file = out_file or self.out_file
        raw = [g.file for g in self._groups] if files is None else files
        present = [f for f in raw if f.exists() and f.stat().st_size > 0]
        if not present:
            raise CaptureError("dumpcap wrote no capture file")
        labels = [t.label for g, f in zip(self._groups, raw, strict=True) if f in present for t in g.targets]
        tmp = out_file.with_suffix(".merging")
        if len(present) == 1:
            shutil.copyfile(present[0], tmp)
        else:
            mergecap = shutil.which("mergecap")
            if mergecap is None:
                raise ToolMissingError("mergecap", "to merge captures of several namespaces")
            # -I none keeps every interface block, in input order, so labels can be applied by position
            try:
                done = subprocess.run(
                    [mergecap, "-I", "none", "-w", str(tmp), *map(str, present)],
                    capture_output=True,
                    text=True,
                    timeout=_MERGE_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                tmp.unlink(missing_ok=True)
                raise CaptureError(
                    f"mergecap did not finish within {_MERGE_TIMEOUT:g}s "
                    f"(raw files kept in {self.work_dir})"
                ) from None
            if done.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise CaptureError(
                    f"mergecap failed: {done.stderr.strip()[-300:]} (raw files kept in {self.work_dir})"
                )
        try:
            rename_interfaces(tmp, labels)
        except PcapFormatError as err:
            tmp.unlink(missing_ok=True)
            raise CaptureError(
                f"the merged capture is unreadable ({err}); raw files kept in {self.work_dir}"
            ) from None
        tmp.replace(out_file)
        if files is None:  # stop: the merged file holds every packet of these; the dumpcap logs stay
            for group in self._groups:
                group.file.unlink(missing_ok=True)

    def _where(self, group: _Group) -> str:
        ifnames = ",".join(t.ifname for t in group.targets)
        return f"{ifnames} in {group.namespace}" if group.namespace else ifnames

    @staticmethod
    def _log_tail(group: _Group) -> str:
        try:
            lines = group.log.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no output)"
        useful = [ln for ln in lines if not ln.startswith(("Capturing on", "File:"))]
        return (useful or lines or ["(no output)"])[-1]
