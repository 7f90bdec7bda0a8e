"""Hostile and borderline topology files: one line naming the file and the problem, and what
``lab topo check`` accepts, ``lab up`` builds (the consistency test runs real namespaces as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.emulation.plan import build_plan
from lab.errors import TopologyError
from lab.topology import load_topology
from lab.topology.limits import MAX_BRIDGE_PORTS, MAX_NODES
from tests.helpers.yamlbombs import alias_bomb

TWO = "nodes: [h1, h2]\nlinks: [{{endpoints: [h1, h2], {attr}}}]\n"


def star(ports: int) -> str:
    hosts = [f"h{i}" for i in range(1, ports + 1)]
    return ("nodes: [" + ", ".join(hosts) + ", {name: s1, kind: switch}]\nlinks:\n"
            + "".join(f"  - [{h}, s1]\n" for h in hosts))


HOSTILE = [
    ("bomb", alias_bomb(), "YAML bomb"),
    ("deep", "nodes: " + "[" * 1000 + "]" * 1000 + "\n", "nest"),
    ("deep-block", "nodes:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, 1000)), "nested more than"),
    ("newline-name", 'nodes: ["h1\\n", h2]\nlinks: [["h1\\n", h2]]\n', "name may contain only"),
    ("nul-name", 'nodes: ["h\\0", h2]\nlinks: [["h\\0", h2]]\n', "name may contain only"),
    ("slash-name", 'nodes: ["h/1", h2]\nlinks: [["h/1", h2]]\n', "name may contain only"),
    ("too-long", "nodes: [averyverylongname, h2]\nlinks: [[averyverylongname, h2]]\n", "longer than 15"),
    ("switch-lo", "nodes: [h1, h2, {name: lo, kind: switch}]\nlinks: [[h1, lo], [h2, lo]]\n", "reserved"),
    ("host-all", "nodes: [all, h2]\nlinks: [[all, h2]]\n", "reserved"),
    ("int-name", "nodes: [010, h2]\nlinks: [[010, h2]]\n", "is a YAML int, not a string"),
    ("null-name", "nodes: [{name: null}, h2]\nlinks: []\n", "is a YAML null"),
    ("loss-tiny", TWO.format(attr="loss: 0.0000001%"), "below the resolution of 0.01%"),
    ("loss-step", TWO.format(attr="loss: 0.015%"), "not a multiple of 0.01%"),
    ("loss-nan", TWO.format(attr="loss: .nan"), "not a finite number"),
    ("loss-inf", TWO.format(attr="loss: .inf"), "not a finite number"),
    ("loss-over", TWO.format(attr="loss: 100.5%"), "out of range"),
    ("delay-huge", TWO.format(attr="delay: 1" + "0" * 400), "out of range"),
    ("delay-tiny", TWO.format(attr="delay: 0.0000001ms"), "below the resolution of 0.001ms"),
    ("rate-nan", TWO.format(attr="rate: .nan"), "not a finite number"),
    ("mtu-huge", TWO.format(attr="mtu: 99999999999999999999999"), "out of range"),
    ("bridge-ports", star(MAX_BRIDGE_PORTS + 1), f"more than the {MAX_BRIDGE_PORTS} ports"),
    ("too-many-nodes", "nodes: [" + ", ".join(f"n{i}" for i in range(MAX_NODES + 1)) + "]\n",
     f"more than the limit of {MAX_NODES}"),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in HOSTILE], ids=[i for i, _, _ in HOSTILE])
def test_hostile_topology_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      text: str, message: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    captured = capsys.readouterr()
    out = captured.err.strip()
    assert captured.out == "" and "\n" not in out and "Traceback" not in out, out
    assert "hostile.yaml" in out and message in out, out


def test_yes_and_no_are_node_names(tmp_path: Path) -> None:
    path = tmp_path / "yesno.yaml"
    path.write_text("nodes: [yes, no, on, {name: off, kind: switch}]\n"
                    "links: [[yes, off], [no, off], [on, off]]\n")
    topo = load_topology(path)
    assert [n.name for n in topo.nodes] == ["yes", "no", "on", "off"]


def test_a_fifo_or_a_directory_is_named_as_such(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    for target, what in ((tmp_path / "fifo.yaml", "a FIFO"), (tmp_path, "a directory")):
        with pytest.raises(TopologyError, match=f"not a regular file \\({what}\\)"):
            load_topology(target)


# -- check accepts iff up builds ---------------------------------------------------------------------
BORDERLINE = {  # name: (text, check accepts)
    "loss-100": (TWO.format(attr="loss: 100%"), True),
    "loss-resolution": (TWO.format(attr="loss: 0.01%"), True),
    "loss-below-resolution": (TWO.format(attr="loss: 0.001%"), False),
    "rate-min": (TWO.format(attr="rate: 8kbit"), True),
    "rate-fraction": (TWO.format(attr="rate: 1.5mbit"), True),
    "mtu-max": (TWO.format(attr="mtu: 65535"), True),
    "switch-lo": ("nodes: [h1, h2, {name: lo, kind: switch}]\nlinks: [[h1, lo], [h2, lo]]\n", False),
    "switch-help": ("nodes: [h1, h2, {name: help, kind: switch}]\nlinks: [[h1, help], [h2, help]]\n", True),
    "bridge-max": (star(MAX_BRIDGE_PORTS), True),
    "bridge-over": (star(MAX_BRIDGE_PORTS + 1), False),
    "newline-name": ('nodes: ["h1\\n", h2]\nlinks: [["h1\\n", h2]]\n', False),
}


def _check(path: Path) -> bool:
    return main(["topo", "check", str(path)]) == 0


def test_check_verdicts_of_the_borderline_files(tmp_path: Path) -> None:
    for name, (text, accepted) in BORDERLINE.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert _check(path) is accepted, name
        if accepted:  # and the plan of what up would build has every value exactly
            build_plan(load_topology(path), "abc", netem=False)
    assert len(BORDERLINE) == 11


def test_plans_realize_values_without_rounding(tmp_path: Path) -> None:
    path = tmp_path / "exact.yaml"
    path.write_text(TWO.format(attr="loss: 12.34%, rate: 1.5mbit, delay: 12345.678ms, jitter: 0.001ms"))
    plan = build_plan(load_topology(path), "abc", netem=True)
    tc = " ".join(line for job in plan.jobs for line in job.tc)
    assert "delay 12345678us 1us loss 12.34% rate 1500000bit" in tc
    path.write_text(TWO.format(attr="loss: 100%"))
    nft = " ".join(job.nft for job in build_plan(load_topology(path), "abc", netem=False).jobs)
    assert "numgen" not in nft and "counter drop" in nft  # 100 %: every packet, no random draw


@pytest.mark.root
def test_up_refuses_a_run_id_with_a_newline() -> None:
    up = subprocess.run([sys.executable, "-m", "lab", "up", "two-hosts", "--no-capture", "--run-id", "ab\n"],
                        capture_output=True, text=True, timeout=60)
    assert up.returncode == 2 and up.stderr.count("\n") == 1 and "run id 'ab\\n'" in up.stderr, up.stderr
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith("lab-ab")]


@pytest.mark.root
@pytest.mark.parametrize("name", ["loss-100", "loss-resolution", "switch-help", "rate-fraction", "switch-lo",
                                  "bridge-max", "bridge-over", "newline-name"])
def test_up_builds_exactly_what_check_accepts(tmp_path: Path, name: str) -> None:
    text, accepted = BORDERLINE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    assert _check(path) is accepted
    rid = "ck" + __import__("secrets").token_hex(3)
    up = subprocess.run([sys.executable, "-m", "lab", "up", str(path), "--no-capture", "--run-id", rid,
                         "--json"], capture_output=True, text=True, timeout=300)
    try:
        assert (up.returncode == 0) is accepted, up.stderr
        if accepted:
            assert json.loads(up.stdout)["run_id"] == rid
        else:
            assert len(up.stderr.strip().splitlines()) == 1 and name + ".yaml" in up.stderr
            assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(f"lab-{rid}-")]
    finally:
        if up.returncode == 0:
            down = subprocess.run([sys.executable, "-m", "lab", "down", rid], capture_output=True, text=True,
                                  timeout=300)
            assert down.returncode == 0, down.stderr


@pytest.mark.parametrize(("name", "text", "message"), [
    ("deep.json", '{"nodes": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid json"),
    ("laughs.graphml", '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaaaaaaaa">'
     + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9))
     + ']><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">'
     '<node id="&j;"/></graph></graphml>', "invalid graphml"),
    ("newline.json", '{"nodes": [{"id": "h1\\n"}, {"id": "h2"}], '
     '"links": [{"source": "h1\\n", "target": "h2"}]}', "name may contain only"),
    ("reserved.gml", 'graph [ node [ id 0 label "lo" kind "switch" ] node [ id 1 label "h1" ] '
     'node [ id 2 label "h2" ] edge [ source 0 target 1 ] edge [ source 0 target 2 ] ]', "reserved"),
])
def test_hostile_graph_formats_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                            text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["topo", "check", str(path)]) == TopologyError.exit_code
    err = capsys.readouterr().err.strip()
    assert message in err and name in err and "\n" not in err and "Traceback" not in err, err
