"""Shared fixtures: where the public corpus lives, and skips with reasons for root-only tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


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


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (run make setup)")
    return path
