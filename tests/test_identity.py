"""One packet on two links: the identity the attribution, checks, questions and story share."""

from __future__ import annotations

from lab.identity import norm_ip, packet_identity
from lab.records import PacketRecord
from tests.helpers.builders import arp, eth, ip, packet, tcp


def _syn(ttl: int, mac: str, ip_id: int | None = 7, version: int = 4, seq: int = 1000) -> PacketRecord:
    """A whole record of a SYN from h1 to h2 (``seq`` its raw sequence number) as seen on one link."""
    src, dst = ("198.18.0.1", "198.18.1.2") if version == 4 else ("fd00::1", "fd00:1::2")
    return packet(eth=eth(mac, "02:00:00:00:00:99"), ip=ip(src, dst, 6, ttl=ttl, ip_id=ip_id),
                  tcp=tcp(40000, 5000, "SYN", seq_raw=seq), role="syn")


def test_a_forwarded_copy_is_the_same_packet() -> None:
    assert packet_identity(_syn(64, "02:00:00:00:00:01")) == packet_identity(_syn(63, "02:00:00:00:01:01"))


def test_a_resent_ipv4_packet_is_another_packet() -> None:
    assert packet_identity(_syn(64, "02:00:00:00:00:01", ip_id=7)) != packet_identity(_syn(64, "m", ip_id=8))
    assert packet_identity(_syn(64, "m", seq=1)) != packet_identity(_syn(64, "m", seq=2))


def test_ipv6_has_no_ip_id_to_tell_a_resend() -> None:
    # the caller (Attributor) separates a resend by link and time; the identity alone cannot
    assert packet_identity(_syn(64, "a", ip_id=None, version=6)) == packet_identity(
        _syn(63, "b", ip_id=None, version=6))


def test_no_ip_header_no_identity() -> None:
    assert packet_identity(packet(arp=arp(1, "198.18.0.1", "198.18.0.2"))) is None


def test_a_v4_mapped_address_is_the_v4_host() -> None:
    assert norm_ip("::ffff:198.18.0.1") == "198.18.0.1"
    assert norm_ip("fd00::1") == "fd00::1"
