"""Least privilege for what a lab runs: programs of a lab file run as the unprivileged user 'lab' in their
namespace (private /tmp, the host unwritable, low ports open), a step that declares root runs as root, and
both tracers still record the unprivileged programs' calls."""

from __future__ import annotations

import json
import os
import pwd
import secrets
from pathlib import Path

import pytest
import yaml

from lab.emulation.names import state_dir
from lab.runner import run_lab

pytestmark = pytest.mark.root

# Reports what the program may do, as JSON into {out}/<name>.json; then serves one TCP echo on port 80.
PROBE = r'''
import errno, json, os, socket, sys
name, out, host_marker, own_marker = sys.argv[1:5]
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))
facts = {
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "cwd": os.getcwd(),
    "sees_host_tmp_marker": os.path.exists(host_marker),
    "write_own_tmp": attempt(lambda: open(own_marker, "w").close()),
    "read_labdir": attempt(lambda: open(os.path.join(os.path.dirname(__file__), "lab.yaml")).read()),
    "no_new_privs": [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0],
    "write_relative": attempt(lambda: open(name + "-relative.txt", "w").close()),
}
if os.getuid() != 0:  # as root these would succeed and leave files on the host
    facts["write_root"] = attempt(lambda: open("/root/lab-priv-test", "w").close())
    facts["write_etc"] = attempt(lambda: open("/etc/lab-priv-test", "w").close())
srv = socket.socket()
facts["bind_80"] = attempt(lambda: srv.bind(("0.0.0.0", 80)))
with open(os.path.join(out, name + ".json"), "w") as f:
    json.dump(facts, f)
if name == "server" and facts["bind_80"] == "ok":
    srv.listen(1)
    conn, _ = srv.accept()
    conn.sendall(conn.recv(100))
    conn.close()
'''

CLIENT = r'''
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(b"unprivileged hello")
print(s.recv(100).decode())
s.close()
'''


def _lab(tmp_path: Path, host_marker: Path, own_marker: str) -> Path:
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "client.py").write_text(CLIENT)
    steps = [
        {"name": "asroot", "node": "h1", "trace": False, "root": "the test checks that root steps stay root",
         "run": ["python3", "{labdir}/probe.py", "asroot", "{out}", str(host_marker), own_marker + "-root"]},
        {"name": "server", "node": "h2", "background": True, "ready": {"tcp": 80},
         "run": ["python3", "{labdir}/probe.py", "server", "{out}", str(host_marker), own_marker]},
        # `python3 -I` ignores PYTHONPATH: the in-process tracer cannot load, so strace traces it (strace -u)
        {"name": "client", "node": "h1", "run": ["python3", "-I", "{labdir}/client.py", "{ip[h2]}"]},
        {"wait": "server", "timeout": 10},
    ]
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"name": "privileges", "topology": "two-hosts", "steps": steps}))
    return path


def test_lab_programs_run_unprivileged_with_a_private_tmp_and_root_steps_as_root(tmp_path: Path) -> None:
    lab_user = pwd.getpwnam("lab")
    host_marker = Path("/tmp") / f"lab-priv-host-{secrets.token_hex(4)}"
    own_marker = f"/tmp/lab-priv-own-{secrets.token_hex(4)}"
    host_marker.write_text("the host's /tmp")
    labdir = tmp_path / "labdir"
    labdir.mkdir()
    try:
        result = run_lab(_lab(labdir, host_marker, own_marker), tmp_path / "out")
    finally:
        host_marker.unlink()
    files = result.out / "files"
    server = json.loads((files / "server.json").read_text())
    asroot = json.loads((files / "asroot.json").read_text())
    # the unprivileged program: user lab, only its own group, no way back to root, the host unwritable
    assert (server["uid"], server["euid"]) == (lab_user.pw_uid, lab_user.pw_uid)
    assert server["gid"] == lab_user.pw_gid
    assert server["groups"] == [lab_user.pw_gid] and server["no_new_privs"] == "1"
    assert server["write_root"] == "EACCES" and server["write_etc"] == "EACCES"
    # its /tmp is the node's own: the host's files are not there, and what it writes never reaches the host
    assert server["sees_host_tmp_marker"] is False and server["write_own_tmp"] == "ok"
    assert not Path(own_marker).exists()
    # what it needs stays reachable although the lab file lives in a private directory (pytest's 0700)
    assert server["read_labdir"] == "ok"
    assert server["cwd"] == str(files) and server["write_relative"] == "ok"
    assert (files / "server-relative.txt").stat().st_uid == lab_user.pw_uid
    # low ports are open in its namespace only
    assert server["bind_80"] == "ok"
    # the step that declared root ran as root (still with a private /tmp)
    assert asroot["uid"] == 0 and asroot["sees_host_tmp_marker"] is False
    steps = {s["name"]: s for s in result.report["steps"]}
    assert steps["server"]["user"] == "lab" and steps["client"]["user"] == "lab"
    assert steps["asroot"]["user"] == "root"
    assert steps["client"]["exit_code"] == 0 and steps["server"]["exit_code"] == 0
    assert (result.out / "logs" / "client.out").read_text().strip() == "unprivileged hello"
    # both tracers recorded the unprivileged programs: the tracer in the server, strace around the client
    calls = [json.loads(line) for line in (result.out / "calls.jsonl").read_text().splitlines()]
    server_binds = [c for c in calls if c["node"] == "h2" and c["call"] == "bind"]
    client_connects = [c for c in calls if c["node"] == "h1" and c["call"] == "connect"]
    assert [c["tracer"] for c in server_binds] == ["python"] and server_binds[0]["local"][1] == 80
    assert client_connects and {c["tracer"] for c in client_connects} == {"strace"}
    assert client_connects[0]["peer"][1] == 80
    # the program writes only files/ and the tracer's traces/py/; strace's log stays root's, out of its reach
    traces = result.out / "traces"
    assert os.stat(traces).st_uid == 0 and os.stat(traces / "py").st_uid == lab_user.pw_uid
    assert [p.stat().st_uid for p in (traces / "py").glob("calls-h2-*.jsonl")] == [lab_user.pw_uid]
    assert [p.stat().st_uid for p in traces.glob("strace-h1-*.txt")] == [0]
    # the nodes' /tmp directories went with the run
    assert not (state_dir() / f"{result.report['run_id']}.d").exists()
    assert not (Path("/root") / "lab-priv-test").exists() and not Path("/etc/lab-priv-test").exists()
    assert os.stat(result.out / "report.json").st_uid == 0


def test_a_lab_file_in_a_directory_the_lab_user_cannot_read_is_refused_before_the_run(tmp_path: Path) -> None:
    from lab.errors import PrivilegeError
    from lab.labs.spec import load_lab
    from lab.runner import preflight

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "p.py").write_text("print('hi')\n")
    path = private / "lab.yaml"
    step = {"name": "hello", "node": "h1", "run": ["python3", "{labdir}/p.py"]}
    path.write_text(yaml.safe_dump({"name": "private", "topology": "two-hosts", "steps": [step]}))
    with pytest.raises(PrivilegeError) as err:
        preflight(load_lab(path), loopback=False)
    text = str(err.value)
    assert str(path) in text and "step 'hello'" in text and "cannot read" in text and "\n" not in text
    # a root step may read it; so may anyone once it is readable
    path.write_text(yaml.safe_dump({"name": "private", "topology": "two-hosts",
                                    "steps": [{**step, "root": "reads a private directory"}]}))
    preflight(load_lab(path), loopback=False)
    private.chmod(0o755)
    path.write_text(yaml.safe_dump({"name": "private", "topology": "two-hosts", "steps": [step]}))
    preflight(load_lab(path), loopback=False)
