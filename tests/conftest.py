"""Shared fixtures: the repository root, where the public corpus lives, skips with reasons for root-only
tests and missing tools, and the runs of the lab catalogue (each lab run at most once per session, shared by
every test that reads its outputs). Helpers are fixtures, not importable names: test modules never import
this file, so the suite needs no ``pythonpath`` setting."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.corpus import CORPUS

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: network namespaces")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared public corpus (``../shared/corpus``); tests using it skip cleanly when it is absent."""
    if not (CORPUS / "pcaps").is_dir():
        pytest.skip(f"public corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the working directory the ``lab`` command-line tests run in)."""
    return REPO


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (run make setup)")
    return path


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str], str]:
    """``require_tool("dumpcap")``: the tool's path, or a skip that names the missing tool."""
    return _require_tool


@pytest.fixture(scope="session")
def catalogue_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """``catalogue_run("lossy-link")``: the ``RunResult`` of that catalogue lab, run for real the first time
    a test asks for it and shared afterwards (the end-to-end test, the sentence guards and the TCP flag
    comparison all read the same run). A run that raised is re-raised to every test that asks again."""
    from lab.labs.spec import load_lab
    from lab.runner import run_lab

    runs: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in runs:
            try:
                runs[name] = run_lab(load_lab(name), tmp_path_factory.mktemp("catalogue") / name)
            except Exception as err:  # noqa: BLE001 - kept and re-raised for each test that asks
                runs[name] = err
        got = runs[name]
        if isinstance(got, Exception):
            raise got
        return got

    return get
