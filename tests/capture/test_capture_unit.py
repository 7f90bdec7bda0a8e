"""Capture stage without root: probe frames and their matching, stop() saving packets whatever happens,
raw-file housekeeping, and subprocess timeouts that end as one-line errors.

The dumpcap processes are stood in by ``sleep`` (stop() only needs something that ends on SIGINT) and the
per-namespace raw files are small pcapng files written here; merging uses the real mergecap. Capturing on
real interfaces is covered by the root tests in tests/runner.
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import lab.capture.dumpcap as dumpcap
from lab.capture import PROBE_ETHERTYPE, PROBE_MAGIC, Capture, CaptureTarget
from lab.capture.dumpcap import _Group
from lab.capture.probe import probe_frame, probe_payload
from lab.cli.main import cli, main
from lab.errors import CaptureError
from tests.helpers.frames import epb, idb, shb

NO_NS = "labtest-no-such-ns"  # never created: `ip netns exec` into it fails at once, as root or not


# -- a pcapng of frames on one named interface, and an IDB reader ----------------------------------------
def pcapng(frames: list[bytes], ifname: str = "eth0") -> bytes:
    packets = b"".join(epb(0, f, 1000 + i) for i, f in enumerate(frames))
    return shb() + idb(1, ifname, snaplen=262144) + packets


def idb_names(path: Path) -> list[str]:
    data, pos, names = path.read_bytes(), 0, []
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 1:
            opt = pos + 16
            while opt + 4 <= pos + blen - 4:
                code, length = struct.unpack_from("<HH", data, opt)
                if code == 0:
                    break
                if code == 2:
                    names.append(data[opt + 4 : opt + 4 + length].decode())
                opt += 4 + length + (-length % 4)
        pos += blen
    return names


def udp_frame(n: int) -> bytes:
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + bytes(20) + bytes([n]) * 20


# -- probes ------------------------------------------------------------------------------------------------
def test_probe_frame_layout() -> None:
    """Ethertype 0x88B5 and a payload starting with LABPROBE (what the analysis recognises), padded to 60."""
    frame = probe_frame(b"start-1-1", "h1-eth0")
    assert len(frame) == 60
    assert frame[:6] == b"\xff" * 6 and int.from_bytes(frame[12:14], "big") == PROBE_ETHERTYPE
    assert frame[14:].startswith(PROBE_MAGIC + b" start-1-1 h1-eth0\0")
    assert probe_payload(b"start-1-1", "h1-eth0") == b"LABPROBE start-1-1 h1-eth0\0"


def test_probe_frame_is_terminated_even_when_longer_than_the_minimum() -> None:
    token = b"stop-4194304-123456789-" + b"x" * 40
    frame = probe_frame(token, "r10-eth15-abcde")
    assert len(frame) > 60
    assert frame.endswith(b" r10-eth15-abcde\0")


def test_a_probe_for_eth10_does_not_confirm_eth1(tmp_path: Path) -> None:
    """The needle ends with the terminator, so r1-eth10's probe is not r1-eth1's."""
    cap = tmp_path / "cap-0.pcapng"
    cap.write_bytes(pcapng([probe_frame(b"start-9-1", "r1-eth10")]))
    group = _Group(None, [], cap, tmp_path / "log")
    eth1, eth10 = probe_payload(b"start-9-1", "r1-eth1"), probe_payload(b"start-9-1", "r1-eth10")
    assert group.seen({eth1, eth10}) == {eth10}
    # nor does a longer token confirm a shorter one (start-9-1 vs start-9-10): the magic anchors the front
    cap.write_bytes(pcapng([probe_frame(b"start-9-10", "r1-eth1")]))
    assert _Group(None, [], cap, tmp_path / "log").seen({eth1}) == set()


def test_a_needle_split_across_two_reads_is_found(tmp_path: Path) -> None:
    cap = tmp_path / "cap-0.pcapng"
    data = pcapng([udp_frame(1), probe_frame(b"stop-9-2", "h1-eth0")])
    cut = data.index(b"stop-9-2") + 3
    cap.write_bytes(data[:cut])
    group = _Group(None, [], cap, tmp_path / "log")
    needle = probe_payload(b"stop-9-2", "h1-eth0")
    assert group.seen({needle}) == set()
    with cap.open("ab") as fh:
        fh.write(data[cut:])
    assert group.seen({needle}) == {needle}


def test_the_analysis_marks_probe_frames_as_the_labs_own(tmp_path: Path) -> None:
    from lab.analysis.pipeline import analyze_capture

    cap = tmp_path / "c.pcapng"
    cap.write_bytes(pcapng([udp_frame(1), probe_frame(b"stop-" + b"9" * 60, "h1-eth0")]))
    res = analyze_capture(cap, tmp_path / "out")
    recs = [json.loads(ln) for ln in res.packets_path.read_text().splitlines()]
    assert len(recs) == 2
    assert recs[0]["role"]["code"] != "lab-probe" and recs[1]["role"]["code"] == "lab-probe"


# -- stop(): the packets are saved whatever went wrong ----------------------------------------------------
def _capture(tmp_path: Path, groups: list[tuple[str | None, str, bytes]]) -> tuple[Capture, list[_Group]]:
    """A Capture as start() leaves it: one group per (namespace, label, raw file bytes), each with a live
    stand-in for dumpcap."""
    work = tmp_path / "work"
    work.mkdir(parents=True)
    targets = [CaptureTarget(ns, "eth0", label) for ns, label, _ in groups]
    cap = Capture(targets, tmp_path / "capture.pcapng", work)
    for n, (target, (_, _, raw)) in enumerate(zip(targets, groups, strict=True)):
        group = _Group(target.namespace, [target], work / f"cap-{n}.pcapng", work / f"dumpcap-{n}.log")
        group.file.write_bytes(raw)
        group.log.write_text("Capturing on 'eth0'\n")
        group.proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        cap._groups.append(group)
    return cap, list(cap._groups)


def _reap(groups: list[_Group]) -> list[int | None]:
    codes = []
    for group in groups:
        assert group.proc is not None
        if group.proc.poll() is None:  # only if the code under test failed to stop it
            group.proc.kill()
        codes.append(group.proc.wait(timeout=5))
    return codes


def test_stop_merges_even_when_the_stop_probe_fails(tmp_path: Path) -> None:
    cap, groups = _capture(tmp_path, [(NO_NS, "h1-eth0", pcapng([udp_frame(1), udp_frame(2)]))])
    try:
        with pytest.raises(CaptureError, match=f"could not send a capture probe in {NO_NS}") as err:
            cap.stop()
    finally:
        codes = _reap(groups)
    assert "\n" not in str(err.value)
    assert codes == [-2]  # dumpcap's stand-in got SIGINT, as dumpcap would
    assert idb_names(cap.out_file) == ["h1-eth0"]
    assert cap.out_file.read_bytes().count(bytes([2]) * 20) == 1
    assert not groups[0].file.exists() and groups[0].log.exists()
    assert cap.stop() == cap.out_file  # stopping twice is harmless


def test_the_probe_error_wins_and_a_failed_merge_is_named_too(tmp_path: Path) -> None:
    cap, groups = _capture(tmp_path, [(NO_NS, "h1-eth0", b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)])
    try:
        with pytest.raises(CaptureError) as err:
            cap.stop()
    finally:
        _reap(groups)
    message = str(err.value)
    assert message.startswith(f"could not send a capture probe in {NO_NS}")
    assert "the merge failed too: the merged capture is unreadable" in message
    assert f"raw files kept in {cap.work_dir}" in message and "\n" not in message
    assert groups[0].file.exists() and not cap.out_file.exists()
    assert not list(tmp_path.glob("*.merging"))


def test_two_namespaces_merge_with_their_labels_and_the_raw_files_go(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("mergecap")
    cap, groups = _capture(
        tmp_path,
        [("ns-a", "h1-eth0", pcapng([udp_frame(1)])), ("ns-b", "h2-eth0", pcapng([udp_frame(2)]))],
    )
    try:
        assert cap.stop(drain=False) == cap.out_file
    finally:
        _reap(groups)
    assert idb_names(cap.out_file) == ["h1-eth0", "h2-eth0"]
    assert [g.file.exists() for g in groups] == [False, False]
    assert [g.log.exists() for g in groups] == [True, True]


def test_a_failed_merge_keeps_the_raw_files_and_says_where(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("mergecap")
    cap, groups = _capture(
        tmp_path, [("ns-a", "h1-eth0", pcapng([udp_frame(1)])), ("ns-b", "h2-eth0", b"not a capture file")]
    )
    try:
        with pytest.raises(CaptureError, match=r"^mergecap failed: .*\(raw files kept in .*work\)$"):
            cap.stop(drain=False)
    finally:
        _reap(groups)
    assert [g.file.exists() for g in groups] == [True, True]
    assert not cap.out_file.exists() and not list(tmp_path.glob("*.merging"))


def test_the_bodys_error_stays_the_one_raised(tmp_path: Path) -> None:
    """A with-body error came first; the capture's own failure travels with it as a note."""
    cap, groups = _capture(tmp_path, [(NO_NS, "h1-eth0", b"")])  # dumpcap wrote nothing: the merge fails
    body_error = KeyError("the body failed")
    try:
        # what `with cap:` does when its body raises (__enter__ is skipped: it would start a real dumpcap)
        assert cap.__exit__(KeyError, body_error, None) is None
    finally:
        codes = _reap(groups)
    assert codes == [-2]
    assert body_error.__notes__ == ["capture: dumpcap wrote no capture file"]
    # without a body error the capture's failure is the error (drain first: the probe fails, then the merge)
    cap2, groups2 = _capture(tmp_path / "again", [(NO_NS, "h1-eth0", b"")])
    try:
        with pytest.raises(CaptureError, match="could not send a capture probe.*merge failed too: dumpcap"):
            cap2.__exit__(None, None, None)
    finally:
        _reap(groups2)


# -- timeouts ----------------------------------------------------------------------------------------------
def test_a_stuck_probe_sender_is_a_one_line_capture_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dumpcap, "_in_namespace", lambda ns, argv: ["sleep", "5"])
    monkeypatch.setattr(dumpcap, "_PROBE_TIMEOUT", 0.2)
    target = CaptureTarget("ns-a", "eth0", "h1-eth0")
    cap = Capture([target], tmp_path / "c.pcapng", tmp_path)
    group = _Group("ns-a", [target], tmp_path / "cap-0.pcapng", tmp_path / "dumpcap-0.log")
    with pytest.raises(CaptureError, match=r"^the capture probe sender in ns-a did not finish within 0.2s$"):
        cap._send_probe(group, b"start-1-1")


def test_the_cli_turns_a_stray_timeout_into_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def timed_out(*args: object, **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(["ip", "netns", "exec", "ns-a", "tshark", "-r", "x y.pcapng"], 10)

    monkeypatch.setattr(cli, "main", timed_out)
    assert main(["show", "x"]) == 1
    out = capsys.readouterr()
    assert out.err == "lab: ip netns exec ns-a tshark -r 'x y.pcapng' timed out after 10s\n"
    assert out.out == ""
