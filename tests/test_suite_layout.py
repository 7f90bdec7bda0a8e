"""The suite's own shape: test directories mirror lab's packages, no test module imports another one, and no
test passes by running its only assertions zero times.

A test module that imports another ties the two together: running, moving or deleting one changes the other,
and a helper hidden among tests is found only by reading them. Helpers shared by test modules live in
``tests/helpers`` (its docstring says how ``import tests.helpers`` resolves with no path setting), and
fixtures in ``conftest.py``, which no module imports. A test whose assertions all sit in a loop over
something computed passes when that something is empty: it must also assert (or skip, saying why) that the
loop had something to run on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LAB = TESTS.parent / "lab"


def _is_helper(module: str) -> bool:
    return module == "tests.helpers" or module.startswith("tests.helpers.")


def _forbidden(module: str) -> bool:
    """A module a test file may not import: any ``tests.*`` module outside tests.helpers, or a conftest."""
    if module == "conftest" or module.endswith(".conftest"):
        return True
    in_tests = module == "tests" or module.startswith("tests.")
    return in_tests and not _is_helper(module)


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


def _below(node: ast.AST) -> list[ast.AST]:
    """The nodes under ``node`` in its own scope (nested functions, lambdas and classes left out)."""
    out = []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            out += [child, *_below(child)]
    return out


def _fixed(iterable: ast.expr) -> bool:
    """An iterable the reader sees is not empty: a non-empty literal, ``range`` of constants, a CONSTANT."""
    if isinstance(iterable, (ast.List, ast.Tuple, ast.Set)):
        return bool(iterable.elts)
    if isinstance(iterable, ast.Dict):
        return bool(iterable.keys)
    if isinstance(iterable, ast.Name):
        return iterable.id.isupper()
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
        return all(isinstance(a, ast.Constant) for a in iterable.args)
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):  # CONST.items()
        return iterable.func.attr in ("items", "keys", "values") and _fixed(iterable.func.value)
    return False


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def loop_only_tests(source: str, where: str) -> list[str]:
    """Test functions whose every assertion (``assert`` or ``pytest.raises``) is inside ``for`` loops over
    computed iterables, with no assertion or ``if`` (a skip) outside them on what those loops iterate."""
    bad = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not fn.name.startswith("test"):
            continue
        scope = _below(fn)
        checks = [n for n in scope if isinstance(n, ast.Assert)
                  or (isinstance(n, ast.With) and "raises" in ast.unparse(n.items[0].context_expr))]
        loops = [n for n in scope if isinstance(n, (ast.For, ast.AsyncFor)) and not _fixed(n.iter)]
        inside = {id(n) for loop in loops for n in _below(loop)}
        if not checks or not all(id(c) in inside for c in checks):
            continue
        fed = set().union(*(_names(loop.iter) for loop in loops))
        guards = [n for n in scope if id(n) not in inside and isinstance(n, (ast.Assert, ast.If))
                  and _names(n.test) & fed]
        if not guards:
            bad.append(f"{where}:{fn.lineno}: {fn.name} asserts only inside loops that may run zero times")
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


def test_no_test_asserts_only_in_a_loop_that_may_not_run() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 50
    bad = [line for p in files for line in loop_only_tests(p.read_text(), str(p.relative_to(TESTS.parent)))]
    assert not bad, "\n".join(bad)


LOOPS = "def test_x(run):\n    items = run.packets()\n"


@pytest.mark.parametrize(("body", "flagged"), [
    ("    for p in items:\n        assert p.ok\n", True),
    ("    for p in items:\n        if p.tcp:\n            assert p.ok\n", True),
    ("    for p in items:\n        with pytest.raises(ValueError):\n            p.check()\n", True),
    ("    assert items\n    for p in items:\n        assert p.ok\n", False),
    ("    for p in items:\n        assert p.ok\n    assert len(items) == 3\n", False),
    ("    if not items:\n        pytest.skip('none')\n    for p in items:\n        assert p\n", False),
    ("    for p in (1, 2):\n        assert p\n", False),
    ("    for p in PACKETS:\n        assert p\n", False),
    ("    for p in items:\n        assert p.ok\n    assert run.done\n", False),
])
def test_the_loop_check_finds_a_loop_that_may_not_run(body: str, flagged: bool) -> None:
    assert bool(loop_only_tests(LOOPS + body, "t.py")) is flagged, body


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


def test_the_helpers_docstring_names_every_helper_module() -> None:
    doc = ast.get_docstring(ast.parse((TESTS / "helpers" / "__init__.py").read_text())) or ""
    modules = sorted(p.stem for p in (TESTS / "helpers").glob("*.py") if p.stem != "__init__")
    assert len(modules) > 8
    assert [m for m in modules if f"- ``{m}``: " not in doc] == []


def test_only_the_helpers_package_has_an_init() -> None:
    # an __init__.py elsewhere makes pytest name the modules below it from that directory, not the rootdir
    inits = sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("__init__.py"))
    assert inits == ["helpers/__init__.py"]
