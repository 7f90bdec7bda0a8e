"""Application detection: which application protocol a TCP or UDP payload carries, in one place.

Three kinds of evidence, asked for by the decoder (``decode``), the general path (``pipeline._record``)
and the fast path (``fastpath``) alike:

* **content**: a payload that starts like HTTP, TLS or SSH is that, whatever the ports;
* **ports**: the catalogue's well-known ports (``catalogue.TCP_PORTS``/``UDP_PORTS``); QUIC also needs the
  fixed bit of its first byte, so a random datagram to port 443 is not called QUIC;
* **data channels** announced elsewhere: an FTP control message (PASV/PORT/EPSV/EPRT) names the endpoint
  of the data connection to come, and a TFTP request (to port 69) makes its client's port the transfer's
  (``DataChannels``, per capture).

A conversation keeps the application of its first recognized segment (``TcpStream.app``/``UdpConv.app``):
a later segment with nothing to recognize (an HTTP body) inherits it; that rule lives with the callers,
because the fast path folds it into its per-view caches.
"""

from __future__ import annotations

import re

from lab.analysis.catalogue import TCP_PORTS, UDP_PORTS

__all__ = ["DataChannels", "HTTP_STARTS", "ftp_data_endpoint", "quic_fixed_bit", "tcp_app",
           "tcp_content_app", "tcp_port_app", "udp_app", "udp_port_app"]

HTTP_STARTS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
               b"TRACE ", b"HTTP/1.", b"HTTP/2")
QUIC_FIXED_BIT = 0x40  # RFC 9000 17.2/17.3: set in every QUIC v1 packet's first byte
MAX_EXPECTED = 1000  # announced data channels remembered at once (the oldest is dropped first)

_FTP_PASV = re.compile(rb"^227 .*?\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
_FTP_PORT = re.compile(rb"^PORT (\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
_FTP_EPSV = re.compile(rb"^229 .*?\(\|\|\|(\d+)\|\)")
_FTP_EPRT = re.compile(rb"^EPRT \|(\d)\|([^|]+)\|(\d+)\|")


def tcp_content_app(data: bytes, off: int, end: int) -> str | None:
    """HTTP, TLS or SSH when the payload ``data[off:end]`` (non-empty) starts like one, else None."""
    if data.startswith(HTTP_STARTS, off, end):
        return "HTTP"
    b0 = data[off]
    if 20 <= b0 <= 23 and off + 1 < end and data[off + 1] == 3 and end - off >= 5:
        return "TLS"
    if data.startswith(b"SSH-", off, end):
        return "SSH"
    return None


def tcp_port_app(sport: int, dport: int) -> str | None:
    """The application protocol the ports suggest (not HTTP: body bytes alone are not an HTTP header)."""
    app = TCP_PORTS.get(dport) or TCP_PORTS.get(sport)
    return None if app == "HTTP" else app


def tcp_app(sport: int, dport: int, payload: bytes) -> str | None:
    """The application protocol of a (non-empty) TCP payload, by content then port."""
    return tcp_content_app(payload, 0, len(payload)) or tcp_port_app(sport, dport)


def udp_port_app(sport: int, dport: int) -> str | None:
    """The application the ports suggest, the lower port first (QUIC still needs its fixed bit)."""
    lo, hi = (sport, dport) if sport < dport else (dport, sport)
    return UDP_PORTS.get(lo) or UDP_PORTS.get(hi)


def quic_fixed_bit(first_byte: int) -> bool:
    """Whether a datagram's first byte has QUIC's fixed bit (a datagram without it is not QUIC)."""
    return bool(first_byte & QUIC_FIXED_BIT)


def udp_app(sport: int, dport: int, payload: bytes) -> str | None:
    """The application protocol of a (non-empty) UDP payload, by port (and QUIC's fixed bit)."""
    app = udp_port_app(sport, dport)
    if app == "QUIC" and not quic_fixed_bit(payload[0]):
        return None
    return app


def ftp_data_endpoint(payload: bytes, src: str, dst: str) -> tuple[str, int] | None:
    """The data-channel endpoint an FTP control message announces (PASV/PORT/EPSV/EPRT), if any."""
    m = _FTP_PASV.match(payload) or _FTP_PORT.match(payload)
    if m:
        g = [int(x) for x in m.groups()]
        return f"{g[0]}.{g[1]}.{g[2]}.{g[3]}", g[4] * 256 + g[5]
    m = _FTP_EPSV.match(payload)
    if m:
        return src, int(m.group(1))
    m = _FTP_EPRT.match(payload)
    if m:
        return m.group(2).decode("ascii", "replace"), int(m.group(3))
    return None


class DataChannels:
    """The data channels a capture's control messages announced, until a connection uses them.

    ``ftp`` and ``tftp`` are read directly by the fast path (it steps aside while either is non-empty, and
    for good once an FTP data stream was seen: ``ftp_data_seen``); only the methods here change them.
    """

    __slots__ = ("ftp", "ftp_data_seen", "tftp")

    def __init__(self) -> None:
        self.ftp: dict[tuple[str, int], int] = {}  # (addr, port) announced -> frame that announced it
        self.ftp_data_seen = False
        self.tftp: set[tuple[str, int]] = set()  # (client addr, client port) of a TFTP request

    def ftp_control(self, payload: bytes, src: str, dst: str, frame: int) -> None:
        """An FTP control segment: remember the data endpoint it announces, if any."""
        endpoint = ftp_data_endpoint(payload, src, dst)
        if endpoint is not None:
            self.ftp[endpoint] = frame
            if len(self.ftp) > MAX_EXPECTED:
                self.ftp.pop(next(iter(self.ftp)))

    def ftp_data_opens(self, src: str, sport: int, dst: str, dport: int) -> bool:
        """Whether a new TCP stream is an announced FTP data channel (the announcement is then used up)."""
        for endpoint in ((dst, dport), (src, sport)):
            if endpoint in self.ftp:
                del self.ftp[endpoint]
                self.ftp_data_seen = True
                return True
        return False

    def tftp_request(self, src: str, sport: int, dport: int, payload: bytes) -> None:
        """A TFTP datagram: a read or write request to port 69 opens a transfer from the client's port."""
        if dport == 69 and payload[:2] in (b"\0\1", b"\0\2"):
            self.tftp.add((src, sport))
            if len(self.tftp) > MAX_EXPECTED:
                self.tftp.pop()

    def is_tftp(self, src: str, sport: int, dst: str, dport: int) -> bool:
        """Whether a datagram belongs to a TFTP transfer a request opened."""
        return (src, sport) in self.tftp or (dst, dport) in self.tftp
