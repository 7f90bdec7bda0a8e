"""Naming, documented once.

* run id: 6 lowercase hex characters (random), or any ``[a-z0-9]{1,12}`` a caller chooses.
* namespace of node N in run R: ``lab-R-N`` (hosts, routers and switches alike, so nothing of a run lives in
  the root namespace).
* interfaces inside a namespace: ``{node}-eth{i}`` (see ``lab.topology.addressing``); a switch's bridge is
  ``{switch}``. Names inside a namespace only need to be unique there, so parallel runs never collide.
* ``/etc/netns/lab-R-N/{hosts,resolv.conf}``: node names resolve inside the namespaces (``ip netns exec``
  bind-mounts them over ``/etc``).
* state file: ``/run/lab/R.json`` (root) listing every resource the run created and its owner process.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

from lab.errors import UsageError

NS_PREFIX = "lab"
RUN_ID_RE = re.compile(r"[a-z0-9]{1,12}")  # fullmatch only: "ab\n" is not a run id
IFNAME_RE = re.compile(r"[A-Za-z0-9_-]{1,15}")
NETNS_DIR = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")


def new_run_id() -> str:
    return secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise UsageError(f"run id {run_id!r}: use 1-12 characters from [a-z0-9]")
    return run_id


def namespace(run_id: str, node: str) -> str:
    return f"{NS_PREFIX}-{run_id}-{node}"


def check_ifname(name: str) -> str:
    if not isinstance(name, str) or not IFNAME_RE.fullmatch(name):
        raise UsageError(f"interface name {name!r}: at most 15 characters from [A-Za-z0-9_-]")
    return name


def state_dir() -> Path:
    """``/run/lab`` for root; a per-user directory otherwise (loopback runs need no root)."""
    env = os.environ.get("LAB_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/run/lab")
    return Path(tempfile.gettempdir()) / f"lab-{os.getuid()}"
