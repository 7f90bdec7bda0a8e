"""Link conditions: netem where the kernel has it, otherwise nftables (loss) and tbf (rate).

Each condition applies to both directions of a link, at the egress of each endpoint, so that a lost packet
never reaches the wire (captures show what a receiver would see). Delay and jitter need netem; without it
they are refused with an error that names the link and what this kernel can do instead: never a silent
no-op. Detection really tries: it adds a netem qdisc on a veth in a scratch namespace.

nftables loss applies to IPv4 and IPv6 packets; ARP and IPv6 neighbour discovery are spared. A lost ARP
request or reply costs a second or more of neighbour-resolution retries and then fails every queued
packet with EHOSTUNREACH, which would turn "10% loss" into stalls and errors the lab is not about. (netem
drops them too: with netem, loss is what the kernel's netem makes of it.)
"""

from __future__ import annotations

import functools
import subprocess

from lab.errors import EmulationError
from lab.topology import LinkSpec
from lab.topology.limits import DELAY, JITTER, LOSS, RATE


@functools.cache
def netem_available() -> bool:
    """Whether the kernel accepts a netem qdisc (tested once per process in a scratch namespace, whose name
    ``lab clean`` recognises if this process is killed before it deletes it: see ``lab.emulation.scratch``).
    """
    from lab.emulation import scratch
    from lab.emulation.deferred import signals_deferred

    ns = scratch.scratch_namespace()
    # Held signals for the ~20 ms it takes: an `ip netns add` forked just before a signal runs to the end
    # even when this process gives up on it, and could create the namespace after our delete.
    with signals_deferred():
        try:
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "add", "name", "p0", "type", "veth", "peer", "name", "p1"])
            proc = subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", "p0", "root", "netem", "delay",
                                   "1ms"], capture_output=True, text=True, timeout=10)
            return proc.returncode == 0
        except EmulationError:
            return False
        finally:
            scratch.remove(ns)


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise EmulationError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def check_link(link: LinkSpec, netem: bool) -> None:
    """Raise EmulationError if this kernel cannot emulate the link's conditions."""
    c = link.conditions
    if netem:
        return
    missing = [x for x, v in (("delay", c.delay_ms), ("jitter", c.jitter_ms)) if v]
    if missing:
        raise EmulationError(
            f"{' and '.join(missing)} cannot be emulated here: the kernel lacks sch_netem (this machine can "
            f"emulate loss via nftables and rate via tbf; link {link.a} -- {link.b})",
            key=f"links.{link.index}.{missing[0]}")


def describe(link: LinkSpec, netem: bool) -> str:
    c = link.conditions
    if c.empty:
        return f"{link.label}: no conditions"
    if netem:
        return f"{link.label}: {c.describe()} via netem (both directions)"
    how = []
    if c.loss_pct:
        how.append(f"loss {c.loss_pct:g}% via nftables (random drop in each direction, silent to the sender:"
                   " on a forwarding node's egress, else on the receiver's ingress)")
    if c.rate_bit:
        how.append(f"rate {c.describe().split('rate ')[-1]} via tbf (both directions)")
    if c.loss_pct == 0:
        how.append("loss 0% (nothing to do)")
    return f"{link.label}: " + "; ".join(how)


def tc_lines(link: LinkSpec, dev: str, mtu: int, netem: bool) -> list[str]:
    c = link.conditions
    if netem:
        args = []
        # in the steps of lab.topology.limits (validation refused anything finer): nothing is rounded
        if c.delay_ms:
            args += ["delay", f"{DELAY.steps(c.delay_ms)}us"]
            if c.jitter_ms:
                args += [f"{JITTER.steps(c.jitter_ms)}us"]
        if c.loss_pct:
            args += ["loss", f"{LOSS.steps(c.loss_pct) / 100:g}%"]
        if c.rate_bit:
            args += ["rate", f"{RATE.steps(c.rate_bit)}bit"]
        return [f"qdisc add dev {dev} root netem {' '.join(args)}"] if args else []
    if c.rate_bit:
        burst = max(2 * (mtu + 14), int(c.rate_bit / 8 / 250))
        return [f"qdisc add dev {dev} root tbf rate {RATE.steps(c.rate_bit)}bit burst {burst} latency 100ms"]
    return []


NDP = "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect"


def loss_rules(link: LinkSpec, a_kind: str, a_dev: str, b_kind: str, b_dev: str, netem: bool
               ) -> dict[str, list[tuple[str, str]]]:
    """Where each direction of a lossy link drops its packets: {"a"|"b": [(hook, dev)]}.

    A drop must be silent to the sender, as on a wire: a packet refused in a host's own output path comes
    back to its socket as an error (EPERM; TCP just tries again later, UDP's sendto() fails), which is
    not loss. So a direction whose sender *forwards* (router, switch) drops in the sender's postrouting
    (before the wire and the capture tap: the packet is seen upstream, never downstream), and a direction
    whose sender is a host drops at the receiver's ingress (the netdev ingress hook, after the receiver's
    capture tap: the capture shows the packet arrive, the stack never gets it). The netdev *egress* hook
    would be the natural single place, but on this kernel its drop verdict on veths was counted and not
    enforced (measured: 382 counted, 0 lost of 1000).
    """
    out: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    if netem or not link.conditions.loss_pct:
        return out
    for src, src_kind, src_dev, dst, dst_dev in (("a", a_kind, a_dev, "b", b_dev),
                                                  ("b", b_kind, b_dev, "a", a_dev)):
        if src_kind in ("router", "switch"):
            out[src].append(("postrouting", src_dev))
        else:
            out[dst].append(("ingress", dst_dev))
    return out


def nft_ruleset(kind: str, drops: list[tuple[str, str, float]]) -> str:
    """The nftables ruleset of one node for its ``(hook, dev, loss_pct)`` drops ("" when none)."""
    if not drops:
        return ""

    def rules(prefix: str, pct: float) -> str:
        # IPv4 and IPv6 packets only: ARP and neighbour discovery are spared (see module docstring).
        # 0.01 % resolution (LOSS.step); 100 % is every packet (numgen's "< 10000" is out of its range)
        steps = LOSS.steps(pct)
        rand = "counter drop" if steps >= 10000 else f"numgen random mod 10000 < {steps} counter drop"
        return (f"    {prefix}meta protocol ip {rand}\n"
                f"    {prefix}meta protocol ip6 meta l4proto != ipv6-icmp {rand}\n"
                f"    {prefix}meta protocol ip6 icmpv6 type != {{ {NDP} }} {rand}\n")

    text = ""
    post = [rules(f"oifname \"{dev}\" ", pct) for hook, dev, pct in drops if hook == "postrouting"]
    if post:
        family = "bridge" if kind == "switch" else "inet"
        text += (f"table {family} lab {{\n  chain loss {{\n"
                 "    type filter hook postrouting priority 0; policy accept;\n" + "".join(post) + "  }\n}\n")
    ingress = [(dev, pct) for hook, dev, pct in drops if hook == "ingress"]
    if ingress:
        text += "table netdev lab {\n"
        for k, (dev, pct) in enumerate(ingress):
            text += (f"  chain loss_in{k} {{\n    type filter hook ingress device \"{dev}\" priority 0; "
                     f"policy accept;\n{rules('', pct)}  }}\n")
        text += "}\n"
    return text
