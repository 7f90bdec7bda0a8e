"""The plan of a network (no root): what ``build_plan`` would run for a topology, inside which namespace,
and how link conditions become nftables rules or netem qdiscs depending on what the kernel offers."""

from __future__ import annotations

import pytest

from lab.emulation.conditions import check_link, describe
from lab.emulation.plan import build_plan
from lab.errors import EmulationError
from lab.topology import load_topology, topology_from_yaml


def test_plan_creates_everything_inside_namespaces():
    t = load_topology("routed")
    plan = build_plan(t, "abc123", netem=False)
    assert plan.root_batch[0] == "netns add lab-abc123-h1"
    veths = [x for x in plan.root_batch if "type veth" in x]
    assert len(veths) == len(t.links)
    assert all(" netns lab-abc123-" in x.split("peer")[0] and " netns lab-abc123-" in x.split("peer")[1]
               for x in veths)
    r1 = next(j for j in plan.jobs if j.node == "r1")
    assert r1.sysctl["net/ipv4/ip_forward"] == "1"
    assert r1.sysctl["net/ipv6/conf/all/forwarding"] == "1"
    assert set(r1.offload_off) == {"r1-eth0", "r1-eth1"}
    s1 = next(j for j in plan.jobs if j.node == "s1")
    assert any("master s1" in x for x in s1.ip)
    hosts = plan.etc_files["/etc/netns/lab-abc123-h1/hosts"]
    assert "198.18.1.1\th3" in hosts
    assert "nameserver 127.0.0.1" in plan.etc_files["/etc/netns/lab-abc123-h1/resolv.conf"]


def test_conditions_without_netem():
    text = "nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], delay: 10ms, loss: 2%}]"
    t = topology_from_yaml(text, source="cond.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "delay:" in row)
    with pytest.raises(EmulationError, match=rf"^cond.yaml:{line}: links\.1\.delay: delay cannot be emulated "
                                             r"here: .*sch_netem.*\(.*link h1 -- h2\)$"):
        build_plan(t, "abc", netem=False)
    check_link(t.links[0], netem=True)  # fine with netem
    t2 = load_topology("dumbbell")
    plan = build_plan(t2, "abc", netem=False)
    r1 = next(j for j in plan.jobs if j.node == "r1")
    # r1 and r2 forward: each drops its own direction on egress, silently to the original sender
    assert r1.nft.startswith("table inet lab")
    assert 'oifname "r1-eth1" meta protocol ip numgen random mod 10000 < 100 counter drop' in r1.nft
    r2 = next(j for j in plan.jobs if j.node == "r2")
    assert 'oifname "r2-eth0" meta protocol ip6 meta l4proto != ipv6-icmp numgen' in r2.nft
    # a host's own packets are dropped where they arrive (its own output path would return EPERM)
    hosts = topology_from_yaml("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], loss: 5%}]")
    jobs = {j.node: j for j in build_plan(hosts, "abc", netem=False).jobs}
    for node in ("h1", "h2"):
        assert "hook ingress device" in jobs[node].nft and f'"{node}-eth0"' in jobs[node].nft
        assert "< 500 counter drop" in jobs[node].nft and "postrouting" not in jobs[node].nft
    assert any("tbf rate 10000000bit" in x for x in r1.tc)
    assert "via nftables" in describe(t2.links[3], netem=False)
    netem_plan = build_plan(t2, "abc", netem=True)
    r1n = next(j for j in netem_plan.jobs if j.node == "r1")
    assert r1n.nft == "" and any("netem loss 1% rate 10000000bit" in x for x in r1n.tc)
