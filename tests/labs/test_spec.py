"""Loading lab files: the whole catalogue, and every validation error as one line naming file and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.errors import UsageError
from lab.labs.spec import CATALOGUE, LABS_DIR, PROGRAMS_DIR, Ready, check_programs, list_labs, load_lab
from tests.helpers.labfiles import MINIMAL
from tests.helpers.yamlkeys import yaml_line


def write(tmp_path: Path, data: object, name: str = "lab.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_catalogue_loads_in_teaching_order() -> None:
    labs = list_labs()
    assert [lab.name for lab in labs] == list(CATALOGUE)
    assert len(labs) >= 13
    programs = 0
    for lab in labs:
        assert lab.summary and lab.concept and lab.observations and lab.questions, lab.name
        assert "OSI" in lab.concept and "TCP/IP" in lab.concept and f"make lab LAB={lab.name}" in lab.concept
        for step in lab.steps:
            for arg in step.run:
                if arg.startswith("{programs}/"):
                    assert (PROGRAMS_DIR / arg.removeprefix("{programs}/")).is_file(), arg
                    programs += 1
    assert programs >= len(labs)  # every lab runs at least one shipped program


def test_lab_specific_topology_resolves_to_an_absolute_path() -> None:
    mtu = load_lab("mtu")
    assert isinstance(mtu.topology_ref, Path) and mtu.topology_ref.is_absolute()
    assert mtu.topology_ref == LABS_DIR / "topologies" / "mtu.yaml"
    assert load_lab("tcp-echo").topology_ref == "two-hosts"


def test_minimal_lab_and_defaults(tmp_path: Path) -> None:
    spec = load_lab(write(tmp_path, MINIMAL))
    server, client, wait = spec.steps
    assert server.ready == Ready("tcp", 5000) and server.background
    assert client.timeout == 30.0 and client.expect_exit == 0 and client.trace and not client.background
    assert wait.is_wait and wait.wait == "server" and wait.timeout == 30.0
    assert spec.labdir == tmp_path and spec.nodes_used == ("h2", "h1")
    assert dict(spec.observations[0].params) == {"role": "syn", "count": 1}


def mutate(change) -> dict:  # noqa: ANN001
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    change(data)
    return data


BAD = [  # (change, key of the value at fault, the problem)
    (lambda d: d.update(colour="red"), "colour", "unknown lab key 'colour'"),
    (lambda d: d.update(loopback=True, topology="routed"), "loopback",
     "true, but topology 'routed' has routers (r1)"),
    (lambda d: (d.update(loopback=True), d["steps"][1]["run"].append("{ip6[h2]}")), "steps.2.run.5",
     "uses {ip6[...]}"),
    (lambda d: d.pop("steps"), "steps", "missing required key 'steps'"),
    (lambda d: d["steps"][1].update(nodes="h1"), "steps.2.nodes", "unknown step key 'nodes'"),
    (lambda d: d["steps"][1].pop("node"), "steps.2", "missing 'node'"),
    (lambda d: d["steps"][1].update(node="h9"), "steps.2.node", "node 'h9' is not in the topology"),
    (lambda d: d["steps"][1].update(run="python3 x.py"), "steps.2.run", "must be a non-empty argv list"),
    (lambda d: d["steps"][1].update(run=["x", "{nope}"]), "steps.2.run.2", "unknown placeholder '{nope}'"),
    (lambda d: d["steps"][1].update(run=["x", "{ip[h7]}"]), "steps.2.run.2", "names node 'h7'"),
    (lambda d: d["steps"][1].update(run=["x", "{ip}"]), "steps.2.run.2", "needs a node"),
    (lambda d: d["steps"][0].update(ready={"sctp": 1}), "steps.1.ready.sctp", "protocol must be tcp or udp"),
    (lambda d: d["steps"][0].update(ready={"tcp": 70000}), "steps.1.ready.tcp",
     "port must be an integer 1-65535"),
    (lambda d: d["steps"][1].update(ready={"tcp": 1}), "steps.2.ready", "only applies to a background step"),
    (lambda d: d["steps"][1].update(timeout=-1), "steps.2.timeout", "must be a positive number"),
    (lambda d: d["steps"][1].update(expect_exit="zero"), "steps.2.expect_exit", "must be an integer or null"),
    (lambda d: d["steps"][1].update(trace="yes"), "steps.2.trace", "must be true or false, not 'yes'"),
    (lambda d: d["steps"][1].update(name="server"), "steps.2.name", "duplicate step name 'server'"),
    (lambda d: d["steps"].append({"wait": "server"}), "steps.4.wait", "already waited for 'server'"),
    (lambda d: d["steps"].append({"wait": "ghost"}), "steps.4.wait", "wait for unknown step 'ghost'"),
    (lambda d: d["steps"].append({"wait": "client"}), "steps.4.wait", "not a background step"),
    (lambda d: d["steps"].insert(0, {"wait": "server"}), "steps.1.wait", "wait for unknown step 'server'"),
    (lambda d: d.update(observations=[{"check": "vibes"}]), "observations.1.check", "unknown check 'vibes'"),
    (lambda d: d.update(observations=[{"check": "role_count", "colour": 1}]), "observations.1.colour",
     "unknown parameter 'colour'"),
    (lambda d: d.update(observations=[{"check": "role_cuont"}]), "observations.1.check",
     "did you mean 'role_count'?"),
    (lambda d: d.update(observations=[{"check": "role_count", "rol": "syn"}]), "observations.1.rol",
     "unknown parameter 'rol'; did you mean 'role'?"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "syn_seq_rwa"}]), "questions.1.answer",
     "unknown answer function 'syn_seq_rwa'; did you mean 'syn_seq_raw'?"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "udp_port", "indx": 5}]),
     "questions.1.indx", "unknown parameter 'indx'; did you mean 'index'?"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "mss", "answer_type": "numbr"}]),
     "questions.1.answer_type", "unknown answer type 'numbr'; did you mean 'number'?"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "manual", "port": 1}]),
     "questions.1.port", "a manual question takes no parameters"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "mss", "mistakes": [1]}]),
     "questions.1.mistakes", "maps a common wrong answer"),
    (lambda d: d.update(functions="../evil.py"), "functions", "names a .py file in the lab file's directory"),
    (lambda d: d.update(functions="missing.py"), "functions", "missing.py: not found"),
    (lambda d: d.update(observations=["role_count"]), "observations.1", "an observation is a mapping"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "magic"}]), "questions.1.answer",
     "unknown answer function"),
    (lambda d: d.update(questions=[{"id": "q", "text": "?"}]), "questions.1", "missing 'answer'"),
    (
        lambda d: d.update(questions=[{"id": "q", "text": "?", "answer": "mss", "colour": 2}]),
        "questions.1.colour", "unknown parameter 'colour'",
    ),
    (lambda d: d["questions"].append(dict(d["questions"][0])), "questions.2.id", "duplicate question id 'q'"),
    (lambda d: d.update(topology="topologies/none.yaml"), "topology", "topology file not found"),
    (lambda d: d.update(topology="no-such-topology"), "topology", "no-such-topology: no such topology"),
    (lambda d: d.update(loopback="yes"), "loopback", "must be true or false"),
    (lambda d: d.update(steps=[]), "steps", "empty; a lab runs at least one program"),
]


@pytest.mark.parametrize(("change", "key", "message"), BAD, ids=[m for _, _, m in BAD])
def test_validation_errors_name_the_file_line_key_and_problem(tmp_path: Path, change, key: str,  # noqa: ANN001
                                                              message: str) -> None:
    path = write(tmp_path, mutate(change))
    with pytest.raises(UsageError) as err:
        load_lab(path)
    text = str(err.value)
    line = yaml_line(path.read_text(), key)
    assert text.startswith(f"{path}:{line}: {key}: ") and message in text and "\n" not in text, (line, text)
    assert (err.value.file, err.value.line, err.value.key) == (str(path), line, key)


def test_loopback_lab_needs_a_topology_without_link_conditions(tmp_path: Path) -> None:
    (tmp_path / "mtu.yaml").write_text("nodes: [h1, h2]\nlinks: [{endpoints: [h1, h2], mtu: 1400}]\n")
    lab = mutate(lambda d: d.update(loopback=True, topology="mtu.yaml"))
    with pytest.raises(UsageError, match=r"loopback: true, but link 1 \(h1 -- h2\) of topology 'mtu' has "
                                         r"link conditions/mtu"):
        load_lab(write(tmp_path, lab))
    lab["loopback"] = False
    assert not load_lab(write(tmp_path, lab)).loopback


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown lab 'nope'"):
        load_lab("nope")
    with pytest.raises(UsageError, match="lab file not found"):
        load_lab(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="is a directory, not a lab file$"):
        load_lab(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(UsageError, match=r"a run's output directory\? grade it with `lab check"):
        load_lab(tmp_path)
    with pytest.raises(UsageError, match="invalid YAML"):
        load_lab(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(UsageError, match="a lab file is a mapping"):
        load_lab(write(tmp_path, "- 1\n- 2\n"))


def test_grading_copy_skips_topology(tmp_path: Path) -> None:
    data = mutate(lambda d: d.update(topology="topologies/mtu.yaml"))
    path = write(tmp_path, data)
    with pytest.raises(UsageError):
        load_lab(path)
    assert load_lab(path, check_topology=False).topology_ref == "topologies/mtu.yaml"


def test_check_programs_names_a_missing_program_or_script(tmp_path: Path) -> None:
    for spec in list_labs():
        check_programs(spec)  # the catalogue's own programs are all here
    missing = mutate(lambda d: d["steps"][1].update(run=["no-such-program-xyz", "{ip[h2]}"]))
    path = write(tmp_path, missing)
    line = yaml_line(path.read_text(), "steps.2.run.1")
    with pytest.raises(UsageError, match=rf"^{path}:{line}: steps.2.run.1: program 'no-such-program-xyz' "):
        check_programs(load_lab(path))
    script = mutate(lambda d: d["steps"][0].update(run=["python3", "{labdir}/gone.py"]))
    path = write(tmp_path, script)
    line = yaml_line(path.read_text(), "steps.1.run.2")
    with pytest.raises(UsageError, match=rf"^{path}:{line}: steps.1.run.2: script not found: .*gone.py"):
        check_programs(load_lab(path))
    check_programs(load_lab(write(tmp_path, MINIMAL)))
