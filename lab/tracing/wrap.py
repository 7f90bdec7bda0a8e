"""Decide how a command is traced and build the argv + environment that does it.

Python programs get the in-process tracer (a ``sitecustomize`` on PYTHONPATH: exact, every socket method,
byte offsets per call). Anything else runs under ``strace``, parsed into the same records at merge time.
The caller never chooses: ``wrap_command`` looks at argv[0].
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from lab.errors import ToolMissingError, UsageError

INJECT_DIR = Path(__file__).resolve().parent / "inject"

_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?")  # fullmatch
_NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")  # fullmatch: "h1\n" is not a name

# Syscalls recorded for non-Python programs: the network class plus the generic fd calls that move socket
# bytes (read/write/readv/writev/sendfile), end sockets (close) or alias them (dup*, fcntl F_DUPFD), and the
# clones that tell threads (same fd table) from processes.
STRACE_SYSCALLS = ("%network", "read", "write", "readv", "writev", "pread64", "pwrite64", "sendfile",
                   "splice", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
                   "clone", "clone3", "fork", "vfork")
STRACE_STRSIZE = 4096  # whole datagrams (DNS, small UDP) so their sha1 can be computed


def is_python_command(argv: list[str]) -> bool:
    """True when the in-process tracer can record ``argv``.

    That is: argv[0] is a Python interpreter (by name or path) or a script with a python shebang, and the
    interpreter is not told to ignore PYTHONPATH or site (-I, -E, -S): those run under strace instead.
    """
    if not argv:
        return False
    if _PYTHON_NAME.fullmatch(os.path.basename(argv[0])):
        return not _ignores_environment(argv[1:])
    return _python_shebang(argv[0])


def _ignores_environment(args: list[str]) -> bool:
    for arg in args:
        if arg == "--" or not arg.startswith("-") or arg in ("-m", "-c"):
            return False
        if not arg.startswith("--") and any(ch in arg[1:] for ch in "IES"):
            return True
    return False


def _python_shebang(prog: str) -> bool:
    path = prog if os.sep in prog else shutil.which(prog)
    if not path or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def strace_argv(argv: list[str], out: Path, user: str | None = None) -> list[str]:
    """The strace command line recording ``argv`` (and its children and threads) into ``out``.

    ``user``: the traced program runs as this user (``strace -u``) while strace itself stays root: how an
    unprivileged lab program is traced (ptrace of a process one started needs no more than that).
    """
    strace = shutil.which("strace")
    if strace is None:
        raise ToolMissingError("strace", "to trace non-Python programs")
    # -q (not -qq): keep "+++ exited/killed +++", which says when the kernel closed what was left open.
    # -x: only non-printable bytes escaped (paths stay readable). --seccomp-bpf: stop only on traced calls.
    as_user = ["-u", user] if user else []
    return [strace, "-f", "-q", "-ttt", "-T", "-yy", "-x", "--seccomp-bpf", "-s", str(STRACE_STRSIZE),
            "-e", "trace=" + ",".join(STRACE_SYSCALLS), *as_user, "-o", str(out), "--", *argv]


def _reserve(trace_dir: Path, node: str) -> Path:
    """A fresh ``strace-<node>-<n>.txt`` (created exclusively, so concurrent wraps never share one)."""
    n = 1
    while True:
        path = trace_dir / f"strace-{node}-{n}.txt"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        os.close(fd)
        return path


def check_node(node: str) -> str:
    """The node name, or UsageError: it ends up in file names and records."""
    if not _NODE_NAME.fullmatch(node):
        raise UsageError(f"bad node name {node!r}: use 1-32 of [A-Za-z0-9_-]")
    return node


def wrap_command(argv: list[str], trace_dir: Path, node: str, python: str = sys.executable,
                 strace_user: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Return ``(argv2, env_add)`` that run ``argv`` with every socket call recorded under ``trace_dir``.

    Args:
        argv: the program and its arguments, as the user wrote them.
        trace_dir: where per-process logs go (created); ``merge_traces`` reads them afterwards.
        node: node name stamped on every record (lab node, or "local").
        python: interpreter that replaces a bare ``python``/``python3``/``python3.X`` argv[0], so the
            venv's interpreter runs the program.
        strace_user: a program traced with strace runs as this user (strace stays root); a Python program's
            user is its launcher's business (the tracer runs inside the program).

    Raises:
        UsageError: empty argv or a bad node name.
        ToolMissingError: a non-Python program and no strace.
    """
    if not argv:
        raise UsageError("nothing to trace: empty command")
    check_node(node)
    trace_dir = Path(trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    if is_python_command(argv):
        argv2 = list(argv)
        if _PYTHON_NAME.fullmatch(os.path.basename(argv[0])):
            argv2[0] = python
        pythonpath = os.pathsep.join(p for p in (str(INJECT_DIR), os.environ.get("PYTHONPATH", "")) if p)
        env = {"PYTHONPATH": pythonpath, "LAB_TRACE_DIR": str(trace_dir.resolve()), "LAB_NODE": node}
        return argv2, env
    return strace_argv(list(argv), _reserve(trace_dir, node).resolve(), strace_user), {}
