"""Integration: every shipped topology built for real; addresses, routes, forwarding, reachability."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from lab.emulation import Network
from lab.emulation.names import ETC_NETNS, NETNS_DIR
from lab.topology import load_topology
from tests.helpers.emulation import exchange, run_id

pytestmark = pytest.mark.root
NETNS_TOPOLOGIES = ["two-hosts", "lan", "routed", "chain", "dumbbell"]


def _ip_json(net, node, *args):
    return json.loads(net.run(node, ["ip", "-j", *args]).stdout)


@pytest.mark.parametrize("name", NETNS_TOPOLOGIES)
def test_shipped_topology_realized(name):
    topo = load_topology(name)
    with Network(topo, run_id=run_id()) as net:
        for node in net.nodes:
            assert (NETNS_DIR / net.namespace(node)).exists()
            links = {x["ifname"]: x for x in _ip_json(net, node, "link")}
            want = {i.name for i in net.interfaces(node)} | {"lo"}
            if net.kind(node) == "switch":
                want.add(node)
            assert set(links) == want, node  # nothing else: isolation from the host's interfaces
            for i in net.interfaces(node):
                assert links[i.name]["address"] == i.mac
                addrs = {f"{a['local']}/{a['prefixlen']}" for x in _ip_json(net, node, "addr", "show", "dev",
                                                                            i.name) for a in x["addr_info"]}
                for a in (i.ipv4, i.ipv6):
                    if a:
                        assert a in addrs, (node, i.name, a)
            routes = {(r["dst"], r.get("gateway")) for r in _ip_json(net, node, "route")}
            routes |= {(r["dst"], r.get("gateway")) for r in _ip_json(net, node, "-6", "route")}
            for r in net.topo.layout.routes[node]:
                assert (r.dest, r.via) in routes, (node, r)
        hosts = net.hosts
        pairs = [(a, b) for a in hosts for b in hosts if a != b]
        lossy = any(li.conditions.loss_pct for li in topo.links)
        for a, b in pairs:
            for v in (4, 6):
                # ping exits 0 if any echo came back; a lossy link gets a few tries
                net.run(a, ["ping", "-c", "4" if lossy else "1", "-i", "0.01", "-W2", net.ip(b, v)])
        # a real TCP and UDP exchange across the whole topology, both families
        a, b = hosts[0], hosts[-1]
        assert exchange(net, a, b, 4, "tcp") == "HELLO LAB"
        assert exchange(net, a, b, 6, "udp", port=5556) == "HELLO LAB"
        # names resolve inside namespaces, to IPv4 first
        got = net.run(a, ["getent", "ahosts", b]).stdout.split()[0]
        assert got == net.ip(b)
        ns = net.namespace(a)
    assert not (NETNS_DIR / ns).exists()
    assert not (ETC_NETNS / ns).exists()


def test_routers_forward_and_ttl_drops_per_hop():
    with Network(load_topology("chain"), run_id=run_id()) as net:
        # up to three echoes within 8 s: the first crosses three neighbour resolutions, which a loaded
        # machine has been seen to take longer than one echo's 2 s for (IPv6, in CI)
        ping = ["ping", "-c3", "-i", "0.2", "-w", "8"]
        out = net.run("h1", [*ping, net.ip("h2")], timeout=15).stdout
        assert "ttl=61" in out  # 64 - three routers
        out6 = net.run("h1", [*ping, net.ip("h2", 6)], timeout=15).stdout
        assert "ttl=61" in out6
        for r in ("r1", "r2", "r3"):
            assert net.run(r, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"


def test_offloads_off_on_every_veth():
    with Network(load_topology("lan"), run_id=run_id()) as net:
        for node in ("h1", "s1"):
            interfaces = net.interfaces(node)
            assert interfaces, node
            for i in interfaces:
                feats = net.run(node, ["ethtool", "-k", i.name]).stdout
                for f in ("tx-checksumming", "generic-segmentation-offload", "generic-receive-offload",
                          "tx-tcp-segmentation", "tx-tcp6-segmentation"):
                    assert f"{f}: off" in feats, (node, i.name, f)


def test_capture_points_cover_each_link_once():
    with Network(load_topology("routed"), run_id=run_id()) as net:
        points = net.capture_points()
        assert sorted(p.label for p in points) == ["s1", "s2"]
        assert all(p.namespace == net.namespace(p.node) for p in points)
    with Network(load_topology("chain"), run_id=run_id()) as net:
        assert [p.label for p in net.capture_points()] == ["h1-eth0", "r1-eth1", "r2-eth1", "r3-eth1"]


def test_isolation_no_route_out():
    with Network(load_topology("routed"), run_id=run_id()) as net:
        # routers have no default route: a non-lab destination is unreachable (no packet is sent)
        r = net.run("r1", ["ip", "route", "get", "192.0.2.1"], check=False)
        assert r.returncode != 0 and "unreachable" in r.stderr.lower()
        r = net.run("r1", ["ip", "-6", "route", "get", "2001:db8::1"], check=False)
        assert r.returncode != 0 and "unreachable" in r.stderr.lower()
        # hosts' default route leads only to that router
        r = net.run("h1", ["ip", "-j", "route", "get", "192.0.2.1"])
        assert json.loads(r.stdout)[0]["gateway"] == "198.18.0.254"
    with Network(load_topology("two-hosts"), run_id=run_id()) as net:
        # no default route at all: connect fails at once with ENETUNREACH, nothing leaves the host
        code = ("import socket,errno\ns=socket.socket()\ntry:\n s.connect(('192.0.2.1',80))\n"
                "except OSError as e:\n print(errno.errorcode[e.errno])")
        assert net.run("h1", ["python3", "-c", code], timeout=5).stdout.strip() == "ENETUNREACH"


def test_isolation_no_route_to_the_machines_own_addresses():
    # the machine's global addresses outside the lab's space (inside a run, 198.18/15 and fd00::/8 name lab
    # nodes, not a way out); route lookups only: nothing is sent
    mine = [a["local"] for link in json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True,
                                                             text=True, check=True).stdout)
            for a in link.get("addr_info", [])
            if a.get("scope") == "global" and not a["local"].startswith(("198.18.", "198.19.", "fd"))]
    if not mine:
        pytest.skip("this machine has no global address outside the lab's space to try")
    with Network(load_topology("routed"), run_id=run_id()) as net:
        for addr in mine:
            r = net.run("r1", ["ip", "route", "get", addr], check=False)
            assert r.returncode != 0 and "unreachable" in r.stderr.lower(), addr


def test_three_topologies_in_parallel():
    errors: list[BaseException] = []
    ids: list[str] = []

    def one(name: str) -> None:
        try:
            with Network(load_topology(name), run_id=run_id("p")) as net:
                ids.append(net.run_id)
                a, b = net.hosts[0], net.hosts[-1]
                net.run(a, ["ping", "-c1", "-W2", net.ip(b)])
                assert exchange(net, a, b) == "HELLO LAB"
        except BaseException as err:  # re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=one, args=(n,)) for n in ("routed", "chain", "lan")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(ids) == 3
    for rid in ids:
        assert not [p for p in NETNS_DIR.iterdir() if p.name.startswith(f"lab-{rid}-")]


def test_loopback_mode():
    with Network(load_topology("loopback"), run_id=run_id()) as net:
        assert net.loopback and net.namespace("h1") is None
        addrs = [net.ip(h) for h in net.hosts]
        base = addrs[0].rsplit(".", 1)[0]
        assert addrs == [f"{base}.1", f"{base}.2", f"{base}.3"] and base.startswith("127.")
        assert not base.startswith(("127.0.", "127.18.")), base  # a per-run /24, never the kernel's 127.0.0.1
        (cp,) = net.capture_points()
        assert (cp.ifname, cp.namespace) == ("lo", None) and f"host {addrs[1]}" in cp.bpf
        assert exchange(net, "h1", "h2", 4, "udp", port=45671) == "HELLO LAB"
        # a second loopback run at the same time gets other addresses (ports and captures are not shared)
        with Network(load_topology("loopback"), run_id=run_id()) as other:
            assert not set(addrs) & {other.ip(h) for h in other.hosts}
            assert exchange(other, "h1", "h2", 4, "udp", port=45671) == "HELLO LAB"


def test_loopback_refuses_addresses_of_a_live_run():
    from lab.errors import UsageError
    from lab.topology import topology_from_yaml

    topo = topology_from_yaml("loopback: true\nnodes: [{name: h1, ipv4: 127.77.7.1}, h2]\nlinks: []\n")
    with Network(topo, run_id=run_id()) as first:
        with pytest.raises(UsageError, match=f"127.77.7.1 is used by live run {first.run_id}"):
            Network(topo, run_id=run_id()).start()
        assert first.ip("h1") == "127.77.7.1"


def test_reachable_probe_reports_real_failures():
    with Network(load_topology("routed"), run_id=run_id()) as net:
        pairs = [("h1", "h3"), ("h4", "h2"), ("h1", "r1", "198.18.0.254"), ("h1", "h4", net.ip("h4", 6))]
        assert net.reachable(pairs) == []
        net.run("h3", ["ip", "link", "set", "dev", "h3-eth0", "down"])
        assert net.reachable(pairs, timeout=0.5) == [("h1", "h3", net.ip("h3"))]
