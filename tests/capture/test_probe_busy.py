"""A probe the kernel cannot queue (ENOBUFS on a swamped veth) is tried again, never a broken capture."""

from __future__ import annotations

import errno

import pytest

from lab.capture import probe


class _Sock:
    def __init__(self, failures: list[int]) -> None:
        self.failures = failures
        self.sent: list[bytes] = []

    def __enter__(self) -> _Sock:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, _addr: object) -> None:
        pass

    def send(self, frame: bytes) -> int:
        if self.failures:
            raise OSError(self.failures.pop(0), "busy")
        self.sent.append(frame)
        return len(frame)


def _patch(monkeypatch: pytest.MonkeyPatch, sock: _Sock) -> None:
    monkeypatch.setattr(probe.socket, "socket", lambda *_a: sock)
    monkeypatch.setattr(probe.time, "sleep", lambda _s: None)


def test_a_busy_queue_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    sock = _Sock([errno.ENOBUFS, errno.ENOBUFS])
    _patch(monkeypatch, sock)
    assert probe.send_probes(["h1-eth0"], b"t") is True
    assert len(sock.sent) == 1 and b"LABPROBE t h1-eth0\0" in sock.sent[0]


def test_a_queue_busy_for_long_is_a_temporary_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    sock = _Sock([errno.ENOBUFS] * 50)
    _patch(monkeypatch, sock)
    assert probe.main(["t", "h1-eth0"]) == probe.TEMPFAIL and sock.sent == []


def test_other_errors_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, _Sock([errno.ENODEV]))
    with pytest.raises(OSError):
        probe.send_probes(["gone0"], b"t")
