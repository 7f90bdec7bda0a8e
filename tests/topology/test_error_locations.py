"""Every rule a topology file can break, and where the error says it broke: ``FILE:LINE: KEY: problem``.

Each broken file marks its offending line with ``# <-``; the expected line is read from the text
(``tests.helpers.yamlkeys.marked_line``), never written down as a number. Each file goes through
``lab topo check`` and ``lab up --no-capture`` (which must refuse it before creating anything), both in one
line on stderr with the topology exit code. A networkx format (GraphML, GML, node-link JSON) keeps no lines:
its errors name the file and the key and say that no line is known.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import networkx as nx
import pytest

from lab.cli.main import main
from lab.errors import TopologyError, one_line
from lab.topology import load_topology
from lab.topology.limits import MAX_BRIDGE_PORTS, MAX_LINKS, MAX_NODES
from tests.helpers.yamlkeys import MARK, marked_line


def _block(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _star(ports: int) -> str:
    hosts = [f"h{i}" for i in range(1, ports + 1)]
    return _block(
        "nodes:",
        f"  - {{name: s1, kind: switch}}  {MARK}",
        *[f"  - {h}" for h in hosts],
        "links:",
        *[f"  - [{h}, s1]" for h in hosts],
    )


TWO = ("nodes: [h1, h2]", "links:")

# (case id, file text with the offending line marked, key at fault ("" for the document), problem)
CASES: list[tuple[str, str, str, str]] = [
    # -- the document and its top-level keys
    ("not-a-mapping", _block(f"- h1  {MARK}", "- h2"), "", "expected a mapping with 'nodes' and 'links'"),
    (
        "unknown-top-key",
        _block(*TWO, "  - [h1, h2]", f"colour: red  {MARK}"),
        "colour",
        "unknown top-level key(s): colour",
    ),
    # a key the file spells with a newline is shown escaped: the message stays one line
    (
        "unknown-key-with-newline",
        _block(*TWO, "  - [h1, h2]", f'"col\\nour": red  {MARK}'),
        "col\\nour",
        "unknown top-level key(s): col\\nour",
    ),
    ("nodes-empty", _block(f"nodes: []  {MARK}", "links: []"), "nodes", "'nodes' must be a non-empty list"),
    ("nodes-missing", _block(f"name: x  {MARK}", "links: []"), "nodes", "'nodes' must be a non-empty list"),
    ("links-not-a-list", _block("nodes: [h1, h2]", f"links: 5  {MARK}"), "links", "'links' must be a list"),
    (
        "loopback-yes",
        _block(*TWO, "  - [h1, h2]", f"loopback: yes  {MARK}"),
        "loopback",
        "must be true or false, not 'yes'",
    ),
    (
        "routing-unknown",
        _block(*TWO, "  - [h1, h2]", f"routing: rip  {MARK}"),
        "routing",
        "must be one of static, ospf, eigrp, not 'rip'",
    ),
    (
        "routing-no-routers",
        _block(f"routing: ospf  {MARK}", *TWO, "  - [h1, h2]"),
        "routing",
        "ospf: the topology has no routers to run it",
    ),
    # -- nodes
    (
        "node-a-list",
        _block("nodes:", "  - h1", f"  - [a, b]  {MARK}", "links: []"),
        "nodes.#2",
        "a node is a name or a mapping with a 'name'",
    ),
    (
        "node-int-name",
        _block("nodes:", f"  - 010  {MARK}", "  - h2", "links: []"),
        "nodes.#1",
        "name 8 is a YAML int, not a string",
    ),
    (
        "node-null-name",
        _block("nodes:", "  - h1", "  - kind: host", f"    name: null  {MARK}", "links: []"),
        "nodes.#2.name",
        "name None is a YAML null, not a string",
    ),
    (
        "node-no-name",
        _block("nodes:", "  - h1", f"  - kind: host  {MARK}", "links: []"),
        "nodes.#2",
        "a node is a name or a mapping with a 'name'",
    ),
    (
        "node-unknown-attr",
        _block("nodes:", "  - name: h1", f"    colour: red  {MARK}", "  - h2", "links: [[h1, h2]]"),
        "nodes.h1.colour",
        "unknown attribute(s) colour",
    ),
    (
        "node-unknown-kind",
        _block("nodes:", "  - h1", "  - name: h2", f"    kind: swich  {MARK}", "links: [[h1, h2]]"),
        "nodes.h2.kind",
        "unknown kind 'swich' (expected one of host, router, switch)",
    ),
    (
        "node-kind-in-mapping-form",
        _block("nodes:", "  h1:", f"  h2: hub  {MARK}", "links: [[h1, h2]]"),
        "nodes.h2.kind",
        "unknown kind 'hub'",
    ),
    (
        "node-bad-ipv4",
        _block("nodes:", "  - name: h1", f"    ipv4: 198.18.0.300  {MARK}", "  - h2", "links: [[h1, h2]]"),
        "nodes.h1.ipv4",
        "'198.18.0.300' is not an IPv4 address",
    ),
    (
        "node-ipv6-is-v4",
        _block("nodes:", "  - h1", "  - name: h2", f"    ipv6: 198.18.0.2  {MARK}", "links: [[h1, h2]]"),
        "nodes.h2.ipv6",
        "'198.18.0.2' is not an IPv6 address",
    ),
    (
        "node-ipv4-a-mapping",
        _block("nodes:", "  - name: h1", f"    ipv4: {{a: 1}}  {MARK}", "  - h2", "links: [[h1, h2]]"),
        "nodes.h1.ipv4",
        "ipv4 must be an address or a list of addresses",
    ),
    (
        "name-slash",
        _block("nodes:", "  - h1", f"  - name: h/2  {MARK}", "links: [[h1, h/2]]"),
        "nodes.#2.name",
        "'h/2': name may contain only letters, digits",
    ),
    (
        "name-newline",
        _block("nodes:", "  - h1", f'  - "h2\\n"  {MARK}', 'links: [[h1, "h2\\n"]]'),
        "nodes.#2.name",
        "name may contain only letters, digits",
    ),
    (
        "name-reserved",
        _block(
            "nodes:",
            "  - h1",
            "  - h2",
            f"  - {{name: lo, kind: switch}}  {MARK}",
            "links: [[h1, lo], [h2, lo]]",
        ),
        "nodes.lo.name",
        "name 'lo' is reserved by the kernel",
    ),
    (
        "name-too-long",
        _block("nodes:", "  - h1", f"  - averyverylongname  {MARK}", "links: [[h1, averyverylongname]]"),
        "nodes.averyverylongname.name",
        "would be longer than 15 bytes",
    ),
    (
        "name-duplicate",
        _block("nodes:", "  - h1", "  - h2", f"  - name: h1  {MARK}", "links: [[h1, h2]]"),
        "nodes.h1.name",
        "duplicate node name 'h1'",
    ),
    (
        "too-many-nodes",
        _block("nodes: [" + ", ".join(f"n{i}" for i in range(MAX_NODES + 1)) + f"]  {MARK}"),
        "nodes",
        f"{MAX_NODES + 1} nodes, more than the limit of {MAX_NODES}",
    ),
    (
        "bridge-ports",
        _star(MAX_BRIDGE_PORTS + 1),
        "nodes.s1",
        f"switch with {MAX_BRIDGE_PORTS + 1} links, more than the {MAX_BRIDGE_PORTS} ports",
    ),
    # -- links and their conditions
    (
        "link-a-name",
        _block(*TWO, "  - [h1, h2]", f"  - h1  {MARK}"),
        "links.2",
        "a link is [a, b] or a mapping with 'endpoints'",
    ),
    (
        "link-three-ends",
        _block(*TWO, f"  - [h1, h2, h1]  {MARK}"),
        "links.1.endpoints",
        "'endpoints' must be a list of two node names",
    ),
    (
        "link-no-endpoints",
        _block(*TWO, "  - [h1, h2]", f"  - {{loss: 1%}}  {MARK}"),
        "links.2.endpoints",
        "'endpoints' must be a list of two node names",
    ),
    ("link-int-end", _block(*TWO, f"  - [h1, 7]  {MARK}"), "links.1.endpoints", "name 7 is a YAML int"),
    (
        "link-dangling",
        _block(*TWO, "  - [h1, h2]", f"  - [h2, h9]  {MARK}"),
        "links.2.endpoints",
        "unknown node 'h9' in link h2 -- h9",
    ),
    (
        "link-dangling-mapping",
        _block(*TWO, "  - [h1, h2]", "  - loss: 1%", f"    endpoints: [h9, h1]  {MARK}"),
        "links.2.endpoints",
        "unknown node 'h9'",
    ),
    (
        "link-self-loop",
        _block(*TWO, "  - [h1, h2]", f"  - [h2, h2]  {MARK}"),
        "links.2.endpoints",
        "self-loop h2 -- h2",
    ),
    (
        "link-duplicate",
        _block(*TWO, "  - [h1, h2]", f"  - [h2, h1]  {MARK}"),
        "links.2",
        "duplicate link h2 -- h1 (same nodes as link 1)",
    ),
    (
        "link-unknown-attr",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    latency: 5ms  {MARK}"),
        "links.1.latency",
        "unknown attribute(s) latency",
    ),
    (
        "loss-not-a-percentage",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    loss: lots  {MARK}"),
        "links.1.loss",
        "loss must be a percentage like 1%, not 'lots'",
    ),
    (
        "loss-over-100",
        _block(*TWO, "  - endpoints: [h1, h2]", "    delay: 5ms", f"    loss: 200%  {MARK}"),
        "links.1.loss",
        "loss 200% out of range 0%..100%",
    ),
    (
        "loss-below-resolution",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    loss: 0.001%  {MARK}"),
        "links.1.loss",
        "below the resolution of 0.01%",
    ),
    (
        "loss-nan",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    loss: .nan  {MARK}"),
        "links.1.loss",
        "not a finite number",
    ),
    (
        "delay-negative",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    delay: -5ms  {MARK}"),
        "links.1.delay",
        "delay -5ms out of range",
    ),
    (
        "delay-a-boolean",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    delay: true  {MARK}"),
        "links.1.delay",
        "delay must be a time like 10ms, not True",
    ),
    (
        "jitter-without-delay",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    jitter: 2ms  {MARK}"),
        "links.1.jitter",
        "jitter 2ms needs a delay",
    ),
    (
        "jitter-over-delay",
        _block(*TWO, "  - endpoints: [h1, h2]", "    delay: 1ms", f"    jitter: 2ms  {MARK}"),
        "links.1.jitter",
        "jitter 2ms larger than delay 1ms",
    ),
    (
        "rate-zero",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    rate: 0  {MARK}"),
        "links.1.rate",
        "rate 0bit out of range",
    ),
    (
        "rate-a-word",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    rate: fast  {MARK}"),
        "links.1.rate",
        "rate must be a rate like 10mbit",
    ),
    (
        "mtu-small",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    mtu: 100  {MARK}"),
        "links.1.mtu",
        "mtu 100 out of range 1280..65535",
    ),
    (
        "mtu-not-a-number",
        _block(*TWO, "  - endpoints: [h1, h2]", f"    mtu: big  {MARK}"),
        "links.1.mtu",
        "mtu must be a whole number of bytes, not 'big'",
    ),
    (
        "too-many-links",
        _block(
            "nodes: [" + ", ".join(f"n{i}" for i in range(100)) + "]",
            "links: ["
            + ", ".join(f"[n{i // 99}, n{i % 99 + 1}]" for i in range(MAX_LINKS + 1))
            + f"]  {MARK}",
        ),
        "links",
        f"{MAX_LINKS + 1} links, more than the limit",
    ),
    # -- addresses
    (
        "switch-address",
        _block(
            "nodes:",
            "  - h1",
            "  - h2",
            "  - name: s1",
            "    kind: switch",
            f"    ipv4: 198.18.0.9  {MARK}",
            "links: [[h1, s1], [h2, s1]]",
        ),
        "nodes.s1.ipv4",
        "a switch has no addresses",
    ),
    (
        "address-without-link",
        _block(
            "nodes:",
            "  - name: h1",
            f"    ipv4: [198.18.0.1, 198.18.1.1]  {MARK}",
            "  - h2",
            "links: [[h1, h2]]",
        ),
        "nodes.h1.ipv4",
        "is for interface 1 but the node has 1 link(s)",
    ),
    (
        "address-outside-lab",
        _block("nodes:", "  - h1", "  - name: h2", f"    ipv4: 10.0.0.1  {MARK}", "links: [[h1, h2]]"),
        "nodes.h2.ipv4",
        "fixed address 10.0.0.1/24 is outside the lab space 198.18.0.0/15",
    ),
    (
        "address-broadcast",
        _block("nodes:", "  - name: h1", f"    ipv4: 198.18.0.255/24  {MARK}", "  - h2", "links: [[h1, h2]]"),
        "nodes.h1.ipv4",
        "the subnet's network or broadcast",
    ),
    (
        "address-duplicate",
        _block(
            "nodes:",
            "  - {name: h1, ipv4: 198.18.0.5}",
            f"  - {{name: h2, ipv4: 198.18.0.5}}  {MARK}",
            "links: [[h1, h2]]",
        ),
        "nodes.h2.ipv4",
        "duplicate address 198.18.0.5 (also on h1)",
    ),
    (
        "address-other-subnet",
        _block(
            "nodes:",
            "  - {name: h1, ipv4: 198.18.0.5/24}",
            "  - name: h2",
            f"    ipv4: 198.18.1.5/24  {MARK}",
            "links: [[h1, h2]]",
        ),
        "nodes.h2.ipv4",
        "is not in the subnet 198.18.0.0/24 that 'h1' fixed",
    ),
    (
        "address-overlap",
        _block(
            "nodes:",
            "  - {name: h1, ipv4: 198.18.0.1/16}",
            "  - {name: r1, kind: router}",
            "  - name: h2",
            f"    ipv4: 198.18.3.1/24  {MARK}",
            "links: [[h1, r1], [r1, h2]]",
        ),
        "nodes.h2.ipv4",
        "subnet 198.18.3.0/24 overlaps 198.18.0.0/16",
    ),
    (
        "subnet-too-small",
        _block(
            "nodes:",
            "  - name: h1",
            f"    ipv4: 198.18.0.1/30  {MARK}",
            "  - h2",
            "  - h3",
            "  - {name: s1, kind: switch}",
            "links: [[h1, s1], [h2, s1], [h3, s1]]",
        ),
        "nodes.h1.ipv4",
        "too many nodes for the subnet",
    ),
    # -- reachability
    (
        "no-hosts",
        _block(
            f"nodes: [{{name: r1, kind: router}}, {{name: s1, kind: switch}}]  {MARK}", "links: [[r1, s1]]"
        ),
        "nodes",
        "no hosts",
    ),
    (
        "host-without-links",
        _block("nodes:", "  - h1", "  - h2", f"  - h3  {MARK}", "links: [[h1, h2]]"),
        "nodes.h3",
        "host has no links",
    ),
    (
        "host-without-path",
        _block("nodes:", "  - h1", "  - h2", f"  - h3  {MARK}", "  - h4", "links: [[h1, h2], [h3, h4]]"),
        "nodes.h3",
        "host has no path to 'h1'",
    ),
    # -- a loopback topology
    (
        "loopback-router",
        _block(
            "loopback: true",
            "nodes:",
            "  - h1",
            "  - name: r1",
            f"    kind: router  {MARK}",
            "links: [[h1, r1]]",
        ),
        "nodes.r1.kind",
        "a loopback topology cannot have routers",
    ),
    (
        "loopback-ipv6",
        _block(
            "loopback: true",
            "nodes:",
            "  - h1",
            "  - name: h2",
            f"    ipv6: fd00::2  {MARK}",
            "links: [[h1, h2]]",
        ),
        "nodes.h2.ipv6",
        "no per-host IPv6 addresses",
    ),
    (
        "loopback-not-127",
        _block(
            "loopback: true",
            "nodes:",
            "  - name: h1",
            f"    ipv4: 198.18.0.1  {MARK}",
            "  - h2",
            "links: [[h1, h2]]",
        ),
        "nodes.h1.ipv4",
        "is not in 127.0.0.0/8",
    ),
    (
        "loopback-conditions",
        _block("loopback: true", *TWO, f"  - {{endpoints: [h1, h2], loss: 1%}}  {MARK}"),
        "links.1",
        "link conditions and mtu need namespaces",
    ),
    (
        "loopback-duplicate",
        _block(
            "loopback: true",
            "nodes:",
            "  - {name: h1, ipv4: 127.0.0.5}",
            "  - name: h2",
            f"    ipv4: 127.0.0.5  {MARK}",
            "links: [[h1, h2]]",
        ),
        "nodes.h2.ipv4",
        "duplicate address 127.0.0.5",
    ),
]


def _expected_prefix(path: Path, text: str, key: str) -> str:
    where = f"{path}:{marked_line(text)}"
    return f"{where}: {key}: " if key else f"{where}: "


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert captured.out == "" and err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_names_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    line = _one_line(capsys)
    assert line.startswith(f"lab: {_expected_prefix(path, text, key)}"), line
    assert problem in line, line
    with pytest.raises(TopologyError) as err:  # the same facts as fields, for a program to read
        load_topology(path)
    assert (err.value.file, err.value.line, one_line(err.value.key or "")) == (
        str(path),
        marked_line(text),
        key,
    )


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_up_refuses_the_same_file_with_the_same_line_before_creating_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    rid = "el" + secrets.token_hex(4)
    assert main(["up", str(path), "--no-capture", "--run-id", rid]) == TopologyError.exit_code
    line = _one_line(capsys)
    assert line.startswith(f"lab: {_expected_prefix(path, text, key)}") and problem in line, line
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    assert not [ns for ns in netns if ns.startswith(f"lab-{rid}-")]
    assert main(["ps", "--json"]) == 0
    assert rid not in {r["run_id"] for r in json.loads(capsys.readouterr().out)}


def test_every_case_marks_one_line_and_the_table_covers_the_rules() -> None:
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    for _name, text, _key, _problem in CASES:
        assert 1 <= marked_line(text) <= text.count("\n")


def _graph() -> nx.Graph:
    g = nx.Graph()
    g.add_node("h1")
    g.add_node("h2", kind="swich")
    g.add_edge("h1", "h2")
    return g


@pytest.mark.parametrize(
    ("name", "write", "key", "problem"),
    [
        ("bad-kind.graphml", lambda g, p: nx.write_graphml(g, p), "nodes.h2.kind", "unknown kind 'swich'"),
        ("bad-kind.gml", lambda g, p: nx.write_gml(g, p), "nodes.h2.kind", "unknown kind 'swich'"),
        (
            "bad-loss.json",
            lambda g, p: p.write_text(
                json.dumps(
                    {
                        "nodes": [{"id": "h1"}, {"id": "h2"}],
                        "links": [{"source": "h1", "target": "h2", "loss": "lots"}],
                    }
                )
            ),
            "links.1.loss",
            "loss must be a percentage like 1%, not 'lots'",
        ),
        (
            "colour.json",
            lambda g, p: p.write_text(
                json.dumps(
                    {
                        "nodes": [{"id": "h1", "colour": "red"}, {"id": "h2"}],
                        "links": [{"source": "h1", "target": "h2"}],
                    }
                )
            ),
            "nodes.h1.colour",
            "unknown attribute(s) colour",
        ),
    ],
)
def test_networkx_formats_name_file_and_key_and_say_no_line_is_known(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    write,
    key: str,  # noqa: ANN001
    problem: str,
) -> None:
    path = tmp_path / name
    write(_graph(), path)
    fmt = path.suffix[1:]
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    line = _one_line(capsys)
    assert line.startswith(f"lab: {path} ({fmt} read by networkx: no line numbers): {key}: "), line
    assert problem in line, line
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    assert err.value.line is None and err.value.key == key and "no line numbers" in (err.value.no_line or "")


def test_a_syntax_error_in_json_names_the_line_the_parser_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        '{"nodes": [{"id": "h1"},',
        '          {"id": "h2"}],',
        ' "links": [{"source": "h1" "target": "h2"}]}',
    ]
    path = tmp_path / "broken.json"
    path.write_text("\n".join(lines) + "\n")
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    bad = next(i for i, text in enumerate(lines, 1) if '"h1" "target"' in text)
    assert _one_line(capsys).startswith(f"lab: {path}:{bad}: invalid json: Expecting ',' delimiter")


UNCLOSED = _block("nodes: [h1, h2]", "links:", "  - [h1, h2", f"extra: 1  {MARK}")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            UNCLOSED,
            "invalid YAML: while parsing a flow sequence (started on line "
            f"{next(i for i, text in enumerate(UNCLOSED.splitlines(), 1) if text.endswith('[h1, h2'))})",
        ),
        (_block("nodes: [h1, h2]", f'links: [[h1, "h\0"]]  {MARK}'), "a NUL character"),
        (_block("nodes:", "  - h1", f"  - {{name: h2, kind: [host}}  {MARK}"), "invalid YAML"),
    ],
)
def test_yaml_that_does_not_parse_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    line = _one_line(capsys)
    assert line.startswith(f"lab: {path}:{marked_line(text)}: {problem}"), line
