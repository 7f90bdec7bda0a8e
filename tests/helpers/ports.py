"""A free local port for a test's server, chosen by the kernel (bind to port 0), so that tests running at
the same time on one machine never fight over a fixed number."""

from __future__ import annotations

import socket


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago (``kind``: SOCK_STREAM or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
