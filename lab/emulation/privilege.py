"""Least privilege for what a lab file runs: its programs run as the unprivileged user ``lab``.

A lab file can come from anywhere (a course website, a colleague), so the programs it names run, by
default, as the system user ``lab`` inside their node's namespace, each node with a private /tmp, seeing
only the directories they need (``lab.emulation.confine`` builds that view and drops privileges). A step
that declares ``root`` in the lab file (raw sockets, routing daemons, a firewall change) runs as root, with
the private /tmp; ``lab run`` lists those steps before it starts.

Why a dedicated system user, not ``nobody`` or a dynamic uid: ``nobody`` is shared with NFS's squashed
root and other daemons, so files it can write are not ours alone; a uid with no passwd entry breaks
programs that look themselves up (getpwuid: Python's getpass, ssh, many daemons) and ``strace -u``, which
takes a user name. ``make setup`` creates ``lab`` (no home, no login shell) on a fresh machine.

What the user may do in its namespace: bind any port (``net.ipv4.ip_unprivileged_port_start=0`` there),
send ICMP echo through ping sockets (``net.ipv4.ping_group_range``), write the run's ``files/`` and
``traces/`` directories and its node's /tmp. What it may not: write anything else of the host, read a
private directory, change the node's network configuration, open raw sockets, gain privileges through a
setuid binary (no_new_privs).
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.errors import PrivilegeError

LAB_USER = "lab"
CONFINE = Path(__file__).with_name("confine.py")
SETUP_HINT = ("`make setup` creates it, or as root: useradd --system --user-group --no-create-home "
              "--shell /usr/sbin/nologin lab")


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int

    @property
    def env(self) -> dict[str, str]:
        """The identity a program of this user expects in its environment (HOME is its private /tmp)."""
        return {"HOME": "/tmp", "USER": self.name, "LOGNAME": self.name}


def lab_user(name: str = LAB_USER) -> RunAs:
    """The unprivileged user lab programs run as; PrivilegeError (one line, how to fix) if it is missing."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(f"lab programs run as the unprivileged user '{name}', which does not exist on "
                             f"this machine: {SETUP_HINT}") from None
    if pw.pw_uid == 0:
        raise PrivilegeError(f"user '{name}' has uid 0: lab programs must run as an unprivileged user")
    return RunAs(pw.pw_name, pw.pw_uid, pw.pw_gid)


@dataclass(frozen=True)
class Confinement:
    """How one program is started: its node's private /tmp, as ``user`` (None: a step declared root).

    ``drop`` False leaves the change of user to a tracer that does it itself (``strace -u USER``), so the
    tracer keeps root while the traced program does not.
    """

    tmp: Path
    user: RunAs | None
    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    cwd: Path | None = None
    drop: bool = True
    mounted: tuple[Path, ...] = ()  # root's, kept reachable for a tracer that stays root (strace's logs)

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` started through the confining launcher (run it inside the node's namespace)."""
        spec = {
            "tmp": str(self.tmp),
            "user": [self.user.name, self.user.uid, self.user.gid] if self.user else None,
            "drop": self.drop,
            "cwd": str(self.cwd) if self.cwd else None,
            "readable": [str(p) for p in self.readable],
            "writable": [str(p) for p in self.writable],
            "mounted": [str(p) for p in self.mounted],
        }
        return [sys.executable, "-I", "-S", str(CONFINE), json.dumps(spec), "--", *argv]


def unreadable(directory: Path, user: RunAs) -> bool:
    """Whether ``user`` may not list and enter ``directory`` itself (its parents do not matter: the
    program's view re-mounts it under whatever covers them; ACLs are not consulted, only mode bits)."""
    try:
        st = directory.stat()
    except OSError:
        return False  # a missing directory is another error, reported where it is used
    if st.st_uid == user.uid:
        bits = st.st_mode >> 6
    elif st.st_gid == user.gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return (bits & 0o5) != 0o5


def give_to(user: RunAs | None, *dirs: Path) -> None:
    """Make ``dirs`` (created if missing) writable by ``user``: the only host directories it may write."""
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(d, user.uid, user.gid)


def interpreter_dirs() -> tuple[Path, ...]:
    """What a Python program of the lab reads: the interpreter's prefixes and the lab package."""
    import lab

    return tuple(dict.fromkeys(Path(p) for p in (sys.prefix, sys.base_prefix, Path(lab.__file__).parent)))


def program_confinement(
    node_tmp: Path,
    *,
    root: bool,
    strace: bool,
    readable: Sequence[Path] = (),
    writable: Sequence[Path] = (),
    mounted: Sequence[Path] = (),
    cwd: Path | None = None,
) -> Confinement | None:
    """How a lab file's program starts: as ``lab`` (or as root if its step declared ``root``), with the node's
    private /tmp, reading ``readable`` and the interpreter, writing only ``writable`` (handed to ``lab``);
    ``mounted`` stays root's (a tracer that stays root writes there).

    None when this process is not root: a caller without privileges (a loopback run) already runs programs
    as itself and cannot build a mount namespace. ``strace``: the step runs under strace, which drops to the
    user itself (``strace -u``) so that it can trace as root.
    """
    if os.geteuid() != 0:
        return None
    user = None if root else lab_user()
    give_to(user, *writable)
    return Confinement(node_tmp, user, readable=(*interpreter_dirs(), *readable), writable=tuple(writable),
                       cwd=cwd, drop=not strace, mounted=tuple(mounted))


def describe(root_steps: Sequence[tuple[str, str | None, str]]) -> str:
    """One line for ``lab run``: who runs the programs, and which steps (name, node, reason) run as root."""
    if os.geteuid() != 0:
        return f"programs run as you (uid {os.getuid()})"
    head = f"programs run as user '{LAB_USER}' (unprivileged, private /tmp)"
    if not root_steps:
        return head + "; no step runs as root"
    listed = ", ".join(f"{name} on {node}" + (f" ({why})" if why else "") for name, node, why in root_steps)
    return f"{head}; as root: {listed}"
