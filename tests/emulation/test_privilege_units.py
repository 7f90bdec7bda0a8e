"""Least privilege, without root: the launcher's spec, who runs what, strace -u, and the view's rules."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from lab.emulation import privilege
from lab.emulation.privilege import CONFINE, Confinement, RunAs
from lab.errors import PrivilegeError
from lab.tracing.wrap import strace_argv, wrap_command
from tests.helpers.builders import tracer_line

LAB = RunAs("lab", 999, 995)


def _confine_module():
    spec = importlib.util.spec_from_file_location("confine", CONFINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_launcher_gets_everything_it_needs_as_one_json_argument(tmp_path: Path) -> None:
    c = Confinement(tmp_path / "tmp", LAB, readable=(Path("/opt/x"),), writable=(tmp_path / "files",),
                    cwd=tmp_path / "files", drop=False)
    argv = c.argv(["dig", "@198.18.0.2", "www.lab"])
    assert argv[:4] == [sys.executable, "-I", "-S", str(CONFINE)]
    assert argv[5:] == ["--", "dig", "@198.18.0.2", "www.lab"]
    assert json.loads(argv[4]) == {"tmp": str(tmp_path / "tmp"), "user": ["lab", 999, 995], "drop": False,
                                   "cwd": str(tmp_path / "files"), "readable": ["/opt/x"],
                                   "writable": [str(tmp_path / "files")], "mounted": []}
    assert json.loads(Confinement(tmp_path, None).argv(["nft"])[4])["user"] is None


def test_a_missing_lab_user_is_one_line_that_says_how_to_create_it() -> None:
    with pytest.raises(PrivilegeError) as err:
        privilege.lab_user("no-such-user-for-lab")
    text = str(err.value)
    assert "'no-such-user-for-lab'" in text and "make setup" in text and "useradd --system" in text
    assert "\n" not in text


def test_run_lists_the_root_steps_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert privilege.describe([]) == ("programs run as user 'lab' (unprivileged, private /tmp); "
                                      "no step runs as root")
    line = privilege.describe([("firewall", "h2", "nft changes the firewall"), ("sniff", "h1", "")])
    assert line.endswith("as root: firewall on h2 (nft changes the firewall), sniff on h1")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert privilege.describe([("firewall", "h2", "")]).startswith("programs run as you (uid ")


def test_an_unprivileged_caller_starts_programs_as_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert privilege.program_confinement(tmp_path, root=False, strace=False) is None


def test_strace_traces_as_root_and_runs_the_program_as_the_user(tmp_path: Path) -> None:
    argv = strace_argv(["dig", "x"], tmp_path / "s.txt", user="lab")
    assert argv[argv.index("-u") + 1] == "lab" and argv.index("-u") < argv.index("--")
    assert "-u" not in strace_argv(["dig", "x"], tmp_path / "s.txt")
    wrapped, env = wrap_command(["dig", "x"], tmp_path, "h1", strace_user="lab")
    assert wrapped[wrapped.index("-u") + 1] == "lab" and env == {}
    # the Python tracer runs inside the program: its user is the launcher's business, not the tracer's
    wrapped, env = wrap_command(["python3", "p.py"], tmp_path, "h1", strace_user="lab")
    assert "-u" not in wrapped and env["LAB_TRACE_DIR"] == str(tmp_path.resolve())


def test_the_view_covers_the_topmost_directory_the_user_cannot_search(tmp_path: Path) -> None:
    confine = _confine_module()
    private = tmp_path / "home"
    deep = private / "me" / "project" / "out"
    deep.mkdir(parents=True)
    (private / "me").chmod(0o755)
    private.chmod(0o070)  # its owner (this test's user) may not search it: the owner bits are the ones used
    uid, gid = os.getuid(), 4242  # every ancestor of tmp_path is this user's, or searchable by it
    try:
        assert not confine.searchable(str(private), uid, gid)
        assert confine.searchable(str(private / "me"), uid, gid)
        assert confine.blocking_ancestor(str(deep), uid, gid) == str(private)
        assert confine.blocking_ancestor(str(private / "me"), uid, gid) == str(private)
        assert confine.blocking_ancestor(str(private), uid, gid) is None  # a path is not its own ancestor
        assert confine.blocking_ancestor("/usr/lib", 4242, 4242) is None
        # group bits count for the directory's group, other bits for everyone else
        assert confine.searchable(str(private), 4243, os.stat(private).st_gid)
        assert not confine.searchable(str(private), 4243, 4243)
    finally:
        private.chmod(0o755)
    assert confine.under("/tmp/a/b", "/tmp") and confine.under("/tmp", "/tmp")
    assert not confine.under("/tmpx", "/tmp")


def test_merge_reads_what_an_unprivileged_tracer_wrote_but_no_link_it_planted(tmp_path: Path) -> None:
    from lab.tracing.merge import collect

    record = tracer_line("close", node="h2", pid=7, tid=7, t_start_ns=1, t_end_ns=2)
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "calls-h2-7.jsonl").write_text(json.dumps(record) + "\n")
    secret = tmp_path / "secret.jsonl"  # stands for a root-only file a program would like to see copied
    secret.write_text(json.dumps({**record, "node": "leaked"}) + "\n")
    (tmp_path / "py" / "calls-h2-8.jsonl").symlink_to(secret)
    records = collect(tmp_path)
    assert [r["node"] for r in records] == ["h2"]
