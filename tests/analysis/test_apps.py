"""Application detection (lab.analysis.apps): content, ports, QUIC's fixed bit, and the data channels an
FTP or TFTP control message opens, the same in the general path and the fast path."""

from __future__ import annotations

from pathlib import Path

from lab.analysis.apps import DataChannels, ftp_data_endpoint, tcp_app, udp_app
from tests.helpers.analysis import analyze_both_paths
from tests.helpers.frames import ACK, PSH, SYN, pcapng, tcp_frame, udp_frame


def test_content_before_ports() -> None:
    assert tcp_app(40000, 22, b"GET / HTTP/1.1\r\n") == "HTTP"  # an HTTP request on the SSH port
    assert tcp_app(40000, 80, b"body bytes") is None  # body bytes alone are no HTTP header
    assert tcp_app(40000, 22, b"\x00\x01") == "SSH"


def test_quic_needs_its_fixed_bit() -> None:
    assert udp_app(40000, 443, b"\xc3rest") == "QUIC"
    assert udp_app(40000, 443, b"\x03rest") is None


def test_ftp_announcements() -> None:
    assert ftp_data_endpoint(b"227 Entering Passive Mode (198,18,0,2,195,80)\r\n", "a", "b") == (
        "198.18.0.2", 50000)
    assert ftp_data_endpoint(b"229 Entering Extended Passive Mode (|||50001|)\r\n", "198.18.0.2", "x") == (
        "198.18.0.2", 50001)
    assert ftp_data_endpoint(b"EPRT |2|fd00::1|50002|\r\n", "a", "b") == ("fd00::1", 50002)
    assert ftp_data_endpoint(b"230 Login successful.\r\n", "a", "b") is None


def test_an_announced_channel_is_used_once() -> None:
    ch = DataChannels()
    ch.ftp_control(b"227 Entering Passive Mode (198,18,0,2,195,80)\r\n", "198.18.0.2", "198.18.0.1", 7)
    assert ch.ftp == {("198.18.0.2", 50000): 7}
    assert ch.ftp_data_opens("198.18.0.1", 40001, "198.18.0.2", 50000)
    assert not ch.ftp and ch.ftp_data_seen
    assert not ch.ftp_data_opens("198.18.0.1", 40002, "198.18.0.2", 50000)


def test_a_tftp_request_opens_its_transfer() -> None:
    ch = DataChannels()
    ch.tftp_request("198.18.0.1", 40000, 69, b"\0\1file\0octet\0")
    ch.tftp_request("198.18.0.1", 40001, 69, b"\0\5error")  # an error is no request
    assert ch.tftp == {("198.18.0.1", 40000)}
    assert ch.is_tftp("198.18.0.2", 5000, "198.18.0.1", 40000)


def test_ftp_data_and_tftp_named_in_both_paths(tmp_path: Path) -> None:
    pasv = b"227 Entering Passive Mode (198,18,0,2,195,80)\r\n"
    frames = [
        tcp_frame(21, 40000, 100, 1, ACK | PSH, pasv),
        tcp_frame(40000, 50000, 1000, 0, SYN),
        tcp_frame(50000, 40000, 5000, 1001, SYN | ACK),
        tcp_frame(40000, 50000, 1001, 5001, ACK),
        tcp_frame(50000, 40000, 5001, 1001, ACK | PSH, b"file contents"),
        udp_frame(40000, 69, b"\0\1file\0octet\0"),
        udp_frame(5000, 40000, b"\0\3\0\1data"),
    ]
    recs = analyze_both_paths(pcapng(tmp_path, "apps.pcapng", [(0, f) for f in frames], ifaces=1), tmp_path)
    assert [r["app"] for r in recs] == ["FTP", None, None, None, "FTP-DATA", "TFTP", "TFTP"]
