"""Configure many namespaces from one process: the fast path of realization.

Run as a script (``python -I -S nshelper.py < jobs.json``), standard library only, so it starts in ~20 ms.
For each job it enters the namespace with ``setns`` (this helper is a fresh process, never the lab's own
interpreter: see STYLE, "never setns the main interpreter"), then:

1. writes sysctls (``/proc/sys/net`` is per network namespace of the writer),
2. turns off TSO/GSO/GRO and tx checksum offload on the listed veths with the SIOCETHTOOL ioctl (no ethtool
   process per interface),
3. applies the ``ip`` lines over rtnetlink from this process (the plan keeps ``ip -batch`` syntax so that it
   stays readable; the few forms the plan emits are translated to RTM_NEWLINK/NEWADDR/NEWROUTE: one
   netlink socket per namespace instead of one ``ip`` process), falling back to ``ip -batch -`` for any
   other line,
4. feeds ``tc -batch -`` and ``nft -f -`` (children inherit the namespace).

Protocol (stdin/stdout, one JSON document per line): the parent sends a list of jobs {"ns", "sysctl":
{path: value}, "offload_off": [ifname], "ip": str, "tc": str, "nft": str}; the helper answers one line per
job {"ns", "ok", "step", "error"} and then {"phase": "configured"}. Once *every* helper has configured its
namespaces (a veth's carrier needs both ends up), the parent sends "wait" and the helper polls each veth
until the kernel reports it running (carrier processed, bridge ports forwarding), answering
{"phase": "ready", "missing": [...]} — confirmed steps, not hopeful ones.
"""

import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
SIOCGIFFLAGS = 0x8913
IFF_RUNNING = 0x40
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


NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
IFLA_ADDRESS, IFLA_MTU, IFLA_MASTER = 1, 4, 10
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
IFF_UP, IFF_PROMISC = 0x1, 0x100
RTNH_F_ONLINK = 0x4


class Unsupported(Exception):
    """A line the netlink translation does not know: the job falls back to ``ip -batch``."""


def _attr(kind, data):
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def _addr(text):
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return family, socket.inet_pton(family, text)


def _mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def translate(line):
    """One ``ip`` batch line of the plan's vocabulary -> (msg type, flags, payload)."""
    w = line.split()
    if w[:3] == ["link", "set", "dev"]:
        index = socket.if_nametoindex(w[3])
        flags = change = 0
        attrs = b""
        k = 4
        while k < len(w):
            if w[k] == "up":
                flags, change, k = flags | IFF_UP, change | IFF_UP, k + 1
            elif w[k] == "promisc" and w[k + 1] == "on":
                flags, change, k = flags | IFF_PROMISC, change | IFF_PROMISC, k + 2
            elif w[k] == "address":
                attrs, k = attrs + _attr(IFLA_ADDRESS, _mac(w[k + 1])), k + 2
            elif w[k] == "mtu":
                attrs, k = attrs + _attr(IFLA_MTU, struct.pack("=I", int(w[k + 1]))), k + 2
            elif w[k] == "master":
                master = socket.if_nametoindex(w[k + 1])
                attrs, k = attrs + _attr(IFLA_MASTER, struct.pack("=I", master)), k + 2
            else:
                raise Unsupported(line)
        return RTM_NEWLINK, 0, struct.pack("=BxHiII", 0, 0, index, flags, change) + attrs
    if w[:2] == ["addr", "add"] and len(w) >= 5 and w[3] == "dev" and w[5:] in ([], ["nodad"]):
        ip, prefix = w[2].split("/")
        family, raw = _addr(ip)
        flags = IFA_F_NODAD if w[5:] == ["nodad"] else 0
        payload = struct.pack("=BBBBI", family, int(prefix), flags, 0, socket.if_nametoindex(w[4]))
        payload += _attr(IFA_LOCAL, raw) + _attr(IFA_ADDRESS, raw)
        return RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload
    if w[:2] == ["route", "add"] and len(w) == 8 and w[3] == "via" and w[5] == "dev" and w[7] == "onlink":
        dst, prefix = w[2].split("/")
        family, raw_dst = _addr(dst)
        gw_family, raw_gw = _addr(w[4])
        if gw_family != family:
            raise Unsupported(line)
        payload = struct.pack("=BBBBBBBBI", family, int(prefix), 0, 0, 254, 3, 0, 1, RTNH_F_ONLINK)
        attrs = _attr(RTA_GATEWAY, raw_gw) + _attr(RTA_OIF, struct.pack("=I", socket.if_nametoindex(w[6])))
        if int(prefix):
            attrs = _attr(RTA_DST, raw_dst) + attrs
        return RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload + attrs
    raise Unsupported(line)


def netlink_apply(lines):
    """Apply ``lines`` in order over one rtnetlink socket; raise RuntimeError naming the failing line."""
    msgs = []
    for line in lines:
        try:
            msgs.append(translate(line))
        except OSError as err:  # if_nametoindex: no such device
            raise RuntimeError(f"{line}: {err}") from None
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
        nl.bind((0, 0))
        for seq, (kind, flags, payload) in enumerate(msgs, 1):
            # one message at a time: a route's ACK confirms its device is up before the route goes in
            hdr = struct.pack("=LHHLL", 16 + len(payload), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
            nl.send(hdr + payload)
            data = nl.recv(65536)
            length, mtype, _f, rseq, _pid = struct.unpack("=LHHLL", data[:16])
            if mtype == NLMSG_ERROR:
                (code,) = struct.unpack("=i", data[16:20])
                if code:
                    raise RuntimeError(f"{lines[seq - 1]}: {os.strerror(-code)}")


def configure_ip(text):
    lines = [x for x in text.splitlines() if x.strip()]
    try:
        for line in lines:
            translate(line)
    except (Unsupported, OSError, ValueError):
        feed(["ip", "-batch", "-"], text)
        return
    netlink_apply(lines)


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
        configure_ip(job.get("ip", ""))
        step = "tc"
        feed(["tc", "-batch", "-"], job.get("tc", ""))
        step = "nft"
        feed(["nft", "-f", "-"], job.get("nft", ""))
    except Exception as err:  # reported to the parent, which raises EmulationError with the namespace
        return {"ns": job["ns"], "ok": False, "step": step, "error": str(err)}
    return {"ns": job["ns"], "ok": True, "step": "done", "error": None}


def running(sock, ifname):
    flags = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, struct.pack("16sH", ifname.encode(), 0))
    return bool(struct.unpack("16sH", flags[:18])[1] & IFF_RUNNING)


def wait_running(jobs, timeout=5.0):
    """Interfaces still not running after ``timeout`` seconds, as "ns/ifname"."""
    deadline = time.monotonic() + timeout
    missing = []
    for job in jobs:
        if not job.get("offload_off"):
            continue
        enter(job["ns"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for ifname in job["offload_off"]:
                while not running(s, ifname):
                    if time.monotonic() > deadline:
                        missing.append(job["ns"] + "/" + ifname)
                        break
                    time.sleep(0.001)
    return missing


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    jobs = json.loads(sys.stdin.readline())
    for job in jobs:
        result = run(job)
        say(result)
        if not result["ok"]:
            return 1
    say({"phase": "configured"})
    if sys.stdin.readline().strip() == "wait":
        say({"phase": "ready", "missing": wait_running(jobs)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
