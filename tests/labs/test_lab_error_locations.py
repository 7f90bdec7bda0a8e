"""Every rule a lab file can break, and where the error says it broke: ``FILE:LINE: KEY: problem``.

Each broken lab file is the same small valid lab with one line changed (or added) and marked ``# <-``; the
expected line is read from the text (``tests.helpers.yamlkeys.marked_line``), not written down. Each goes
through ``lab run`` (the verb a student types), which must refuse it in one line on stderr with the usage
exit code before it creates anything: no output directory, no run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli.main import main
from lab.errors import UsageError
from lab.labs.spec import load_lab
from tests.helpers.yamlkeys import MARK, marked_line

BASE = """\
name: mine
topology: two-hosts
steps:
  - name: server
    node: h2
    run: [python3, "{programs}/tcp_echo_server.py"]
    background: true
    ready: {tcp: 5000}
  - name: client
    node: h1
    run: [python3, "{programs}/tcp_echo_client.py", "{ip[h2]}", "5000"]
  - wait: server
observations:
  - check: role_count
    role: syn
    count: 1
questions:
  - id: q
    text: "?"
    answer: syn_seq_raw
"""


def lab(old: str = "", new: str = "", *, after: str = "", add: str = "") -> str:
    """BASE with the line ``old`` replaced by ``new`` (marked), or ``add`` (marked) put after ``after``."""
    lines = BASE.splitlines()
    if old:
        assert lines.count(old) == 1, old
        lines[lines.index(old)] = f"{new}  {MARK}"
    if add:
        assert lines.count(after) == 1, after
        at = lines.index(after) + 1
        lines[at:at] = [*add.splitlines()[:-1], f"{add.splitlines()[-1]}  {MARK}"]
    return "\n".join(lines) + "\n"


CLIENT_RUN = '    run: [python3, "{programs}/tcp_echo_client.py", "{ip[h2]}", "5000"]'
SERVER_READY = "    ready: {tcp: 5000}"

# (case id, lab file text with the offending line marked, key at fault ("" for the document), problem)
CASES: list[tuple[str, str, str, str]] = [
    # -- the document and its top-level keys
    ("not-a-mapping", f"- 1  {MARK}\n- 2\n", "", "a lab file is a mapping"),
    ("unknown-key", lab(after="name: mine", add="colour: red"), "colour", "unknown lab key 'colour'"),
    ("missing-steps", f"name: mine  {MARK}\ntopology: two-hosts\n", "steps", "missing required key 'steps'"),
    ("name-a-path", lab("name: mine", "name: ../evil"), "name", "'../evil' is not a name"),
    ("name-a-list", lab("name: mine", "name: [a]"), "name", "must be a non-empty string"),
    ("title-a-list", lab(after="name: mine", add="title: [a]"), "title", "must be a non-empty string"),
    ("summary-a-number", lab(after="name: mine", add="summary: 5"), "summary", "must be a string, not 5"),
    ("concept-a-list", lab(after="name: mine", add="concept: [a]"), "concept", "must be a string"),
    (
        "topology-a-list",
        lab("topology: two-hosts", "topology: [a]"),
        "topology",
        "must be a non-empty string",
    ),
    (
        "topology-file-missing",
        lab("topology: two-hosts", "topology: nothere.yaml"),
        "topology",
        "topology file not found: nothere.yaml",
    ),
    (
        "topology-name-unknown",
        lab("topology: two-hosts", "topology: no-such-net"),
        "topology",
        "no-such-net: no such topology file or name",
    ),
    ("loopback-yes", lab(after="name: mine", add="loopback: yes"), "loopback", "must be true or false"),
    (
        "loopback-with-routers",
        lab("topology: two-hosts", "topology: routed")
        .replace(f"routed  {MARK}", "routed")
        .replace("name: mine", f"name: mine\nloopback: true  {MARK}"),
        "loopback",
        "true, but topology 'routed' has routers (r1)",
    ),
    (
        "loopback-with-ip6",
        lab(CLIENT_RUN, '    run: [ping, "{ip6[h2]}"]').replace("name: mine", "name: mine\nloopback: true"),
        "steps.2.run.2",
        "uses {ip6[...]}",
    ),
    (
        "functions-a-path",
        lab(after="name: mine", add="functions: ../evil.py"),
        "functions",
        "names a .py file in the lab file's directory",
    ),
    (
        "functions-missing",
        lab(after="name: mine", add="functions: missing.py"),
        "functions",
        "missing.py: not found",
    ),
    # -- steps
    (
        "steps-a-number",
        lab("steps:", "steps: 5").split("  - name: server")[0],
        "steps",
        "must be a list, not 5",
    ),
    (
        "steps-empty",
        lab("steps:", "steps: []").split("  - name: server")[0] + "observations: []\n",
        "steps",
        "empty; a lab runs at least one program",
    ),
    ("step-a-string", lab("  - wait: server", "  - echo"), "steps.3", "a step is a mapping"),
    (
        "step-unknown-key",
        lab(after="    node: h1", add="    nodes: h1"),
        "steps.2.nodes",
        "unknown step key 'nodes'",
    ),
    (
        "step-no-name",
        lab("  - name: client", "  - node: h1").replace("    node: h1\n", "", 1),
        "steps.2",
        "missing 'name'",
    ),
    (
        "step-no-node",
        lab("  - name: client", "  - name: client").replace("    node: h1\n", ""),
        "steps.2",
        "missing 'node'",
    ),
    ("step-name-a-path", lab("  - name: client", "  - name: a/b"), "steps.2.name", "'a/b' is not a name"),
    (
        "step-name-duplicate",
        lab("  - name: client", "  - name: server"),
        "steps.2.name",
        "duplicate step name 'server'",
    ),
    ("node-not-a-name", lab("    node: h1", "    node: h1/x"), "steps.2.node", "'h1/x' is not a node name"),
    (
        "node-not-in-topology",
        lab("    node: h1", "    node: h9"),
        "steps.2.node",
        "node 'h9' is not in the topology (nodes: h1, h2)",
    ),
    (
        "run-a-string",
        lab(CLIENT_RUN, "    run: python3 x.py"),
        "steps.2.run",
        "must be a non-empty argv list",
    ),
    (
        "run-a-boolean",
        lab(CLIENT_RUN, "    run: [echo, true]"),
        "steps.2.run",
        "must be a non-empty argv list",
    ),
    ("run-nul", lab(CLIENT_RUN, '    run: [echo, "a\\0b"]'), "steps.2.run.2", "argument 2 contains a NUL"),
    (
        "placeholder-unknown",
        lab(CLIENT_RUN, '    run: [echo, "{nope}"]'),
        "steps.2.run.2",
        "unknown placeholder '{nope}'",
    ),
    ("placeholder-no-node", lab(CLIENT_RUN, '    run: [echo, x, "{ip}"]'), "steps.2.run.3", "needs a node"),
    (
        "placeholder-other-node",
        lab(CLIENT_RUN, '    run: [echo, "{ip[h7]}"]'),
        "steps.2.run.2",
        "names node 'h7', not in the topology",
    ),
    (
        "placeholder-format-spec",
        lab(CLIENT_RUN, '    run: [echo, "{labdir:>99}"]'),
        "steps.2.run.2",
        "has a conversion or format spec",
    ),
    (
        "placeholder-index",
        lab(CLIENT_RUN, '    run: [echo, "{programs[0]}"]'),
        "steps.2.run.2",
        "takes no index",
    ),
    ("placeholder-unclosed", lab(CLIENT_RUN, '    run: [echo, "{ip"]'), "steps.2.run.2", "bad placeholder"),
    (
        "background-yes",
        lab("    background: true", "    background: yes"),
        "steps.1.background",
        "must be true or false, not 'yes'",
    ),
    (
        "ready-a-number",
        lab(SERVER_READY, "    ready: 5000"),
        "steps.1.ready",
        "must be {tcp: PORT} or {udp: PORT}",
    ),
    (
        "ready-sctp",
        lab(SERVER_READY, "    ready: {sctp: 5000}"),
        "steps.1.ready.sctp",
        "protocol must be tcp or udp, not 'sctp'",
    ),
    (
        "ready-port-high",
        lab(SERVER_READY, "    ready: {tcp: 70000}"),
        "steps.1.ready.tcp",
        "port must be an integer 1-65535, not 70000",
    ),
    (
        "ready-not-background",
        lab(after="    node: h1", add="    ready: {tcp: 1}"),
        "steps.2.ready",
        "only applies to a background step",
    ),
    (
        "timeout-negative",
        lab(after="    node: h1", add="    timeout: -1"),
        "steps.2.timeout",
        "must be a positive number of seconds",
    ),
    ("timeout-nan", lab(after="    node: h1", add="    timeout: .nan"), "steps.2.timeout", "not nan"),
    (
        "expect-exit-word",
        lab(after="    node: h1", add="    expect_exit: zero"),
        "steps.2.expect_exit",
        "must be an integer or null",
    ),
    ("trace-yes", lab(after="    node: h1", add="    trace: yes"), "steps.2.trace", "must be true or false"),
    (
        "root-empty",
        lab(after="    node: h1", add='    root: ""'),
        "steps.2.root",
        "must be true, false, or the reason",
    ),
    (
        "wait-unknown",
        lab("  - wait: server", "  - wait: ghost"),
        "steps.3.wait",
        "wait for unknown step 'ghost'",
    ),
    (
        "wait-not-background",
        lab("  - wait: server", "  - wait: client"),
        "steps.3.wait",
        "not a background step",
    ),
    (
        "wait-twice",
        lab(after="  - wait: server", add="  - wait: server"),
        "steps.4.wait",
        "already waited for 'server'",
    ),
    (
        "wait-unknown-key",
        lab(after="  - wait: server", add="    colour: 1"),
        "steps.3.colour",
        "unknown wait step key 'colour'",
    ),
    ("wait-name-a-path", lab("  - wait: server", "  - wait: ../x"), "steps.3.wait", "'../x' is not a name"),
    # -- observations
    (
        "observations-a-number",
        lab("observations:", "observations: 5").replace(
            "  - check: role_count\n    role: syn\n    count: 1\n", ""
        ),
        "observations",
        "must be a list, not 5",
    ),
    (
        "observation-a-string",
        lab("  - check: role_count", "  - role_count").replace("    role: syn\n    count: 1\n", ""),
        "observations.1",
        "an observation is a mapping",
    ),
    (
        "check-unknown",
        lab("  - check: role_count", "  - check: vibes"),
        "observations.1.check",
        "unknown check 'vibes'",
    ),
    (
        "check-misspelt",
        lab("  - check: role_count", "  - check: role_cuont"),
        "observations.1.check",
        "did you mean 'role_count'?",
    ),
    (
        "check-parameter-unknown",
        lab("    role: syn", "    rol: syn"),
        "observations.1.rol",
        "unknown parameter 'rol'; did you mean 'role'?",
    ),
    # -- questions
    (
        "questions-a-string",
        lab("questions:", "questions: what").split("  - id: q")[0],
        "questions",
        "must be a list",
    ),
    (
        "question-a-string",
        lab("  - id: q", "  - q").replace('    text: "?"\n    answer: syn_seq_raw\n', ""),
        "questions.1",
        "a question is a mapping",
    ),
    (
        "question-no-answer",
        lab("  - id: q", "  - id: q").replace("    answer: syn_seq_raw\n", ""),
        "questions.1",
        "missing 'answer'",
    ),
    ("question-id-a-path", lab("  - id: q", "  - id: a/b"), "questions.1.id", "'a/b' is not a name"),
    (
        "question-id-duplicate",
        lab(after="    answer: syn_seq_raw", add='  - {id: q, text: "?", answer: mss}'),
        "questions.2.id",
        "duplicate question id 'q'",
    ),
    (
        "question-text-a-list",
        lab('    text: "?"', "    text: [a]"),
        "questions.1.text",
        "must be a non-empty string",
    ),
    (
        "answer-unknown",
        lab("    answer: syn_seq_raw", "    answer: syn_seq_rwa"),
        "questions.1.answer",
        "unknown answer function 'syn_seq_rwa'; did you mean 'syn_seq_raw'?",
    ),
    (
        "answer-parameter-unknown",
        lab(after="    answer: syn_seq_raw", add="    colour: 2"),
        "questions.1.colour",
        "unknown parameter 'colour'",
    ),
    (
        "manual-with-parameters",
        lab("    answer: syn_seq_raw", "    answer: manual").replace(
            f"manual  {MARK}", f"manual\n    port: 1  {MARK}"
        ),
        "questions.1.port",
        "a manual question takes no",
    ),
    (
        "hint-a-list",
        lab(after="    answer: syn_seq_raw", add="    hint: [a]"),
        "questions.1.hint",
        "must be a string",
    ),
    (
        "mistakes-a-list",
        lab(after="    answer: syn_seq_raw", add="    mistakes: [1]"),
        "questions.1.mistakes",
        "maps a common wrong answer to the hint for it",
    ),
    (
        "answer-type-unknown",
        lab(after="    answer: syn_seq_raw", add="    answer_type: numbr"),
        "questions.1.answer_type",
        "unknown answer type 'numbr'; did you mean 'number'?",
    ),
    # -- the preflight of lab run: the programs must exist on this machine
    (
        "program-missing",
        lab(CLIENT_RUN, "    run: [no-such-program-xyz, a]"),
        "steps.2.run.1",
        "program 'no-such-program-xyz' not found on this machine",
    ),
    (
        "script-missing",
        lab(CLIENT_RUN, '    run: [python3, "{labdir}/gone.py"]'),
        "steps.2.run.2",
        "script not found",
    ),
]


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], path: Path) -> str:
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == UsageError.exit_code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert not out.exists()  # refused before anything was made
    return captured.err.rstrip("\n")


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lab_run_names_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, problem: str
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    line = _run(tmp_path, capsys, path)
    where = f"{path}:{marked_line(text)}"
    assert line.startswith(f"lab: {where}: {key}: " if key else f"lab: {where}: "), line
    assert problem in line, line


def test_every_case_changes_the_valid_lab_in_one_marked_line(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(BASE)
    assert load_lab(path).name == "mine"  # the base is valid: each case's error is its own line's
    assert len(CASES) >= 65 and len({c[0] for c in CASES}) == len(CASES)
    for _name, text, _key, _problem in CASES:
        assert 1 <= marked_line(text) <= text.count("\n")


def test_a_broken_topology_names_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = tmp_path / "net.yaml"
    topo_text = f"nodes:\n  - h1\n  - name: h2\n    kind: swich  {MARK}\nlinks: [[h1, h2]]\n"
    topo.write_text(topo_text)
    text = lab("topology: two-hosts", "topology: net.yaml")
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    line = _run(tmp_path, capsys, path)
    inner = f"{topo}:{marked_line(topo_text)}: nodes.h2.kind: unknown kind 'swich'"
    assert line.startswith(f"lab: {path}:{marked_line(text)}: topology: {inner}"), line
