"""Configure many namespaces from one process: the fast path of realization.

Run as a script (``python -I -S nshelper.py < jobs.json``), standard library only, so it starts in ~20 ms.
For each job it enters the namespace with ``setns`` (this helper is a fresh process, never the lab's own
interpreter: see STYLE, "never setns the main interpreter"), then:

1. writes sysctls (``/proc/sys/net`` is per network namespace of the writer),
2. turns off TSO/GSO/GRO and tx checksum offload on the listed veths with the SIOCETHTOOL ioctl (no ethtool
   process per interface),
3. feeds ``ip -batch -``, ``tc -batch -`` and ``nft -f -`` (children inherit the namespace).

Input: a JSON list of {"ns", "sysctl": {path: value}, "offload_off": [ifname], "ip": str, "tc": str,
"nft": str}. Output: one JSON line per job: {"ns", "ok": bool, "step", "error"}.
"""

import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
# legacy ethtool "set one feature" commands; the kernel maps them onto the netdev feature bits
ETHTOOL_STXCSUM = 0x17
ETHTOOL_STSO = 0x1F
ETHTOOL_SGSO = 0x24
ETHTOOL_SGRO = 0x2C
OFFLOADS = (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO, ETHTOOL_STXCSUM)

_libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def offload_off(ifname):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for cmd in OFFLOADS:
            value = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
            ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def feed(argv, text):
    if not text:
        return
    proc = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace("\n", "; ")
        raise RuntimeError(" ".join(argv[:2]) + ": " + detail)


def run(job):
    step = "setns"
    try:
        enter(job["ns"])
        step = "sysctl"
        for path, value in job.get("sysctl", {}).items():
            with open(f"/proc/sys/{path}", "w") as f:
                f.write(str(value))
        step = "offload"
        for ifname in job.get("offload_off", []):
            offload_off(ifname)
        step = "ip"
        feed(["ip", "-batch", "-"], job.get("ip", ""))
        step = "tc"
        feed(["tc", "-batch", "-"], job.get("tc", ""))
        step = "nft"
        feed(["nft", "-f", "-"], job.get("nft", ""))
    except Exception as err:  # reported to the parent, which raises EmulationError with the namespace
        return {"ns": job["ns"], "ok": False, "step": step, "error": str(err)}
    return {"ns": job["ns"], "ok": True, "step": "done", "error": None}


def main():
    jobs = json.load(sys.stdin)
    for job in jobs:
        result = run(job)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        if not result["ok"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
