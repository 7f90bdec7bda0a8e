"""The render process: the second process of a large analysis.

Formatting a packet's JSON line and comment costs about as much as analyzing the packet. So for a large
file the analyzing process sends each packet's *entry* (see ``lab.analysis.fastpath``; for the general
path, the finished line and comment) down a pipe, a chunk at a time, to a forked process that reads the
capture file again, formats, writes packets.jsonl and annotated.pcapng, and sends back what it counted --
or the error that stopped it, which the analyzing process raises as one line. The bytes are the ones a
single process writes (``test_render_process_writes_the_same_files``).

    render = RenderProcess(pcap, out_dir, iface_nodes)
    try:
        render.send(entries)             # as many chunks as it takes, in packet order
        kinds = render.finish()          # its summary counts; raises its error, if it met one
    except BaseException:
        render.abort()                   # whatever failed, here or there: no process or pipe is left
        raise
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import marshal
import multiprocessing
import os
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from lab.analysis.fastpath import Renderer
from lab.analysis.lines import Lines
from lab.analysis.reader import CaptureReader
from lab.analysis.writer import FRAME, AnnotatedWriter, BackgroundFile
from lab.errors import LabError, PcapFormatError
from lab.paths import RunPaths

MIN_BYTES = 8 << 20  # below this a second process costs more than it saves
CHUNK_PACKETS = 1024  # entries per pipe frame


class RenderProcess:
    """The forked render process and its two pipes: entries out, the report back."""

    def __init__(self, pcap: Path, out_dir: Path, iface_nodes: dict[str, str] | None) -> None:
        self.pcap = pcap
        out_r, out_w = os.pipe()
        back_r, back_w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(out_w, fcntl.F_SETPIPE_SZ, 1 << 20)  # fewer, larger transfers
        self._proc = multiprocessing.get_context("fork").Process(
            target=_main, args=(pcap, out_dir, iface_nodes, out_r, back_w, (out_w, back_r)), daemon=True)
        try:
            self._proc.start()
        except BaseException:
            for fd in (out_r, out_w, back_r, back_w):
                os.close(fd)
            raise
        os.close(out_r)
        os.close(back_w)
        self._back: int | None = back_r
        self._out = BackgroundFile(out_w, depth=4)  # owns out_w from here
        self._exitcode: int | None = None  # once ended

    def send(self, entries: list) -> None:
        """One chunk of entries, in packet order."""
        try:
            self._out.send_frame(marshal.dumps(entries))
        except BrokenPipeError as err:
            self._explain(err)

    def finish(self) -> dict[tuple, int]:
        """Close the entries pipe, wait for the render process; its summary counts, or its error raised."""
        try:
            self._out.close()
        except BrokenPipeError as err:
            self._explain(err)
        try:
            return self._report()
        finally:
            self._end()

    def abort(self) -> None:
        """The analysis failed (or was interrupted): stop the render process, whatever it was doing."""
        if self._exitcode is None:
            self._proc.kill()
        with contextlib.suppress(BaseException):
            self._out.close()
        self._end()

    def _explain(self, err: BrokenPipeError) -> None:
        """The pipe broke: the render process stopped first. Raise what it said, or how it ended."""
        self._proc.join(10)
        self._proc.kill()
        with contextlib.suppress(BaseException):
            self._out.close()  # the same broken pipe
        try:
            self._report()
        finally:
            self._end()
        raise LabError(f"{self.pcap}: the render process failed ({err})") from err

    def _end(self) -> None:
        """Wait for it and let go of every descriptor: ours, and multiprocessing's own."""
        if self._exitcode is None:
            self._proc.join()
            self._exitcode = self._proc.exitcode
            self._proc.close()
        if self._back is not None:
            os.close(self._back)
            self._back = None

    def _report(self) -> dict[tuple, int]:
        back = bytearray()
        while self._back is not None and (chunk := os.read(self._back, 1 << 16)):
            back += chunk
        try:
            status, payload = marshal.loads(back)
        except (EOFError, ValueError, TypeError):
            self._end()
            raise LabError(f"{self.pcap}: the render process failed (exit code {self._exitcode})") from None
        if status == "ok":
            return payload
        if status == "bug":
            raise RuntimeError(f"the render process failed:\n{payload}")
        raise (PcapFormatError if status == "PcapFormatError" else LabError)(payload)


def _main(pcap: Path, out_dir: Path, iface_nodes: dict[str, str] | None, fd: int, back_fd: int,
          parent_fds: tuple[int, int]) -> None:
    """Render, then report: ("ok", counts), or the error as one line -- or a bug's traceback, which is
    not the user's to decode but must not be lost."""
    for other in parent_fds:
        os.close(other)  # the analyzing process' ends of the pipes
    try:
        report: tuple[str, Any] = ("ok", _render(pcap, out_dir, iface_nodes, fd))
    except KeyboardInterrupt:  # Ctrl-C reached the whole process group: the analyzing process says so
        sys.exit(130)
    except LabError as err:
        report = (type(err).__name__, str(err))
    except OSError as err:
        report = ("OSError", f"{pcap}: writing the outputs failed: {err}")
    except BaseException:  # noqa: BLE001 - handed to the analyzing process
        report = ("bug", traceback.format_exc())
    with contextlib.suppress(OSError), open(back_fd, "wb") as back:  # nobody may be listening any more
        back.write(marshal.dumps(report))
    if report[0] != "ok":
        sys.exit(1)


def _next_frame(pipe: BinaryIO) -> bytes | None:
    """The next chunk of entries; None when the analyzing process has sent everything."""
    head = pipe.read(FRAME.size)
    if not head:
        return None
    (size,) = FRAME.unpack(head) if len(head) == FRAME.size else (-1,)
    data = pipe.read(size) if size >= 0 else b""
    if size < 0 or len(data) < size:
        raise PcapFormatError("the analyzing process stopped in the middle of a chunk")
    return data


def _render(pcap: Path, out_dir: Path, iface_nodes: dict[str, str] | None, fd: int) -> dict[tuple, int]:
    """Write packets.jsonl and annotated.pcapng for the packets the analysis sent entries for (a file
    still growing has more: they are left out, as the analysis left them out)."""
    gc.disable()  # as in the analysis: nothing here makes reference cycles
    reader = CaptureReader(pcap)
    lines = Lines(RunPaths(out_dir).packets)
    writer: AnnotatedWriter | None = None
    renderer = Renderer(iface_nodes)
    render_tcp, render_udp = renderer.tcp, renderer.udp
    kinds: dict[tuple, int] = {}
    jl = lines.buf
    jsize = 0
    entries: list = []
    i = 0
    n = 0  # numbered and timed as in the analysis
    t0: int | None = None
    with open(fd, "rb") as pipe:
        try:
            for item in reader.records():
                if writer is None:
                    writer = AnnotatedWriter(RunPaths(out_dir).annotated, reader.info)
                if type(item) is bytes:
                    writer.block(item)
                    continue
                if i == len(entries):
                    frame = _next_frame(pipe)
                    if frame is None:
                        break
                    entries = marshal.loads(frame)
                    i = 0
                e = entries[i]
                i += 1
                n += 1
                if t0 is None:
                    t0 = item.ts_ns
                if type(e[0]) is bytes:  # the general path's (line, comment)
                    line, comment = e
                else:
                    line, comment, kind = (render_tcp if e[0] == 6 else render_udp)(e, item, n, t0)
                    kinds[kind] = kinds.get(kind, 0) + 1
                jl.append(line)
                jsize += len(line)
                if jsize >= lines.flush_at:
                    lines.flush()
                    jsize = 0
                writer.packet(item, comment)
            if i != len(entries) or _next_frame(pipe) is not None:
                raise PcapFormatError(f"{pcap}: the analysis sent more packets than the render process read "
                                      f"(did the file change while it was analyzed?)")
        finally:
            if writer is None:
                writer = AnnotatedWriter(RunPaths(out_dir).annotated, reader.info)
            lines.close()
            writer.close()
    return kinds
