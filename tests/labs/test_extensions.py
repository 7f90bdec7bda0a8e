"""A lab's own functions module: loaded from the teacher's lab directory only, refused when it misbehaves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.errors import UsageError
from lab.labs.extensions import load_functions
from lab.labs.spec import lab_path, load_lab

GOOD = "def w(packets, calls, port=None):\n    return 1\n\nANSWERS = {'w': w}\n"


def _lab(tmp: Path, module: str | None, question: dict | None = None) -> Path:
    raw = yaml.safe_load(lab_path("tcp-echo").read_text())
    if module is not None:
        (tmp / "extra.py").write_text(module)
        raw["functions"] = "extra.py"
    if question:
        raw["questions"].append(question)
    path = tmp / "lab.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_registered_answers_are_validated_like_the_builtins(tmp_path: Path) -> None:
    spec = load_lab(_lab(tmp_path, GOOD, {"id": "w", "text": "?", "answer": "w", "port": 5}))
    assert spec.functions == tmp_path / "extra.py" and spec.questions[-1].answer == "w"
    with pytest.raises(UsageError, match="unknown parameter 'prot'; did you mean 'port'"):
        load_lab(_lab(tmp_path, GOOD, {"id": "w", "text": "?", "answer": "w", "prot": 5}))


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("raise RuntimeError('boom')\n", "failed to import: RuntimeError: boom"),
        ("ANSWERS = {'mss': lambda p, c: 1}\n", "shadows the built-in"),
        ("ANSWERS = {'x': 3}\n", "must map a name to a function"),
        ("ANSWERS = [1]\n", "must be a mapping"),
        ("X = 1\n", "registers nothing"),
    ],
)
def test_a_misbehaving_module_is_one_line(tmp_path: Path, module: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        load_lab(_lab(tmp_path, module))
    assert message in str(err.value) and "extra.py" in str(err.value) and "\n" not in str(err.value)


def test_a_runs_copy_never_executes_its_module(tmp_path: Path) -> None:
    """check_topology=False is how a run's own lab.yaml is read: its module is not imported."""
    marker = tmp_path / "ran"
    path = _lab(tmp_path, f"open({str(marker)!r}, 'w').close()\nANSWERS = {{}}\n",
                {"id": "w", "text": "?", "answer": "w"})
    spec = load_lab(path, check_topology=False)
    assert spec.functions is None and not marker.exists()
    with pytest.raises(UsageError, match="registers nothing"):
        load_functions(tmp_path / "extra.py")
    assert marker.exists()  # the trusted path does execute it: the test's marker proves which is which
