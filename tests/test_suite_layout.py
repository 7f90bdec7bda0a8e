"""The suite's own shape: test directories mirror lab's packages, and no test module imports another one.

A test module that imports another ties the two together: running, moving or deleting one changes the other,
and a helper hidden among tests is found only by reading them. Helpers shared by test modules live in
``tests/helpers`` (its docstring says how ``import tests.helpers`` resolves with no path setting), and
fixtures in ``conftest.py``, which no module imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LAB = TESTS.parent / "lab"

# Shared builders still living among test modules while other work moves them: each entry says where to.
PENDING = {
    "tests.labs.records": "record builders of the labs tests, moving to tests/helpers/labrecords.py",
    "tests.analysis.attribution.test_attribution": "packet_record and call, made complete first",
}


def _is_helper(module: str) -> bool:
    return module == "tests.helpers" or module.startswith("tests.helpers.")


def _forbidden(module: str) -> bool:
    """A module a test file may not import: any ``tests.*`` module outside tests.helpers, or a conftest."""
    if module == "conftest" or module.endswith(".conftest"):
        return True
    in_tests = module == "tests" or module.startswith("tests.")
    return in_tests and not _is_helper(module) and module not in PENDING


def forbidden_imports(source: str, where: str) -> list[str]:
    """Every import in ``source`` of a test module, a conftest or a sibling file (relative import), as
    ``where:line: ...`` lines."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            bad.append(f"{where}:{node.lineno}: relative import from {'.' * node.level}{node.module or ''}")
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            modules = [f"{base}.{a.name}" for a in node.names] if base == "tests" else [base]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        bad += [f"{where}:{node.lineno}: imports {m} (move what it needs to tests/helpers)"
                for m in modules if _forbidden(m)]
    return bad


def unmirrored(test_dirs: list[Path], tests_root: Path, lab_root: Path) -> list[str]:
    """The test directories with no package (``lab/<dir>/__init__.py``) or module (``lab/<dir>.py``) of
    that path in ``lab_root``."""
    bad = []
    for d in test_dirs:
        rel = d.relative_to(tests_root)
        target = lab_root.joinpath(*rel.parts)
        if not ((target / "__init__.py").is_file() or target.with_suffix(".py").is_file()):
            bad.append(f"tests/{rel.as_posix()}: lab has no {rel.as_posix()} package or module")
    return bad


def test_no_test_module_imports_another() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert sum(p.name.startswith("test_") for p in files) > 50  # the walk saw the suite
    bad = [line for p in files for line in forbidden_imports(p.read_text(), str(p.relative_to(TESTS.parent)))]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source", [
    "from tests.analysis.test_analysis_units import udp_frame",
    "from tests.test_records import validate_dir",
    "import tests.emulation.helpers",
    "from tests import test_records",
    "from tests.conftest import REPO",
    "import conftest",
    "from .tracecheck import by_sock",
    "from . import tracecheck",
    "def f():\n    from tests.analysis.corpus_compare import load_jsonl\n",
])
def test_the_import_check_refuses(source: str) -> None:
    assert len(forbidden_imports(source, "t.py")) == 1, source


@pytest.mark.parametrize("source", [
    "from tests.helpers.frames import pcap, udp_frame",
    "from tests.helpers import frames",
    "import tests.helpers.records",
    "from lab.analysis.pipeline import analyze_capture",
    "import testsuite",
])
def test_the_import_check_allows_helpers_and_the_package(source: str) -> None:
    assert forbidden_imports(source, "t.py") == []


def test_test_directories_mirror_the_packages() -> None:
    dirs = sorted({p.parent for p in TESTS.rglob("test_*.py")} - {TESTS})
    assert len(dirs) > 8  # analysis, analysis/attribution, capture, cli, emulation, labs, ...
    bad = unmirrored(dirs, TESTS, LAB)
    assert not bad, "\n".join(bad)


def test_the_mirror_check_finds_a_stray_directory(tmp_path: Path) -> None:
    (tmp_path / "lab" / "analysis").mkdir(parents=True)
    (tmp_path / "lab" / "analysis" / "__init__.py").touch()
    (tmp_path / "lab" / "runner.py").touch()
    tests = tmp_path / "tests"
    dirs = [tests / "analysis", tests / "runner", tests / "attribution", tests / "analysis" / "attribution"]
    assert unmirrored(dirs, tests, tmp_path / "lab") == [
        "tests/attribution: lab has no attribution package or module",
        "tests/analysis/attribution: lab has no analysis/attribution package or module"]


def test_only_the_helpers_package_has_an_init() -> None:
    # an __init__.py elsewhere makes pytest name the modules below it from that directory, not the rootdir
    inits = sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("__init__.py"))
    assert inits == ["helpers/__init__.py"]
