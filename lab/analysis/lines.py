"""JSON Lines output written a megabyte at a time by a background thread (``writer.BackgroundFile``).

The hot loops append their lines to ``buf`` themselves, count the bytes, and call ``flush()`` at
``flush_at``: a method call per line would cost more than the line's bytes.
"""

from __future__ import annotations

from pathlib import Path

from lab.analysis.writer import FLUSH_AT, BackgroundFile


class Lines:
    """A buffered binary line writer."""

    flush_at = FLUSH_AT

    def __init__(self, path: Path) -> None:
        self._fh = BackgroundFile(path)
        self.buf: list[bytes] = []
        self._size = 0

    def add(self, line: bytes) -> None:
        self.buf.append(line)
        self._size += len(line)
        if self._size >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.buf.append(b"")  # the last line's newline
            self._fh.write(b"\n".join(self.buf))
            self.buf.clear()
        self._size = 0

    def close(self) -> None:
        self.flush()
        self._fh.close()
