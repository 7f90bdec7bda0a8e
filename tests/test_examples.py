"""The examples run as a user would run them: the notebook through a real Jupyter kernel (nbclient), the
scripts as programs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.root
EXAMPLES = REPO / "examples"


def test_notebook_runs(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dumpcap")
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES / "tcp-echo.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "handshake 1/3: SYN" in text and "connect() #" in text and "Ether / IP / TCP" in text
    shown = [o for o in outputs if o.output_type in ("display_data", "execute_result")]
    assert any("image/png" in o.get("data", {}) for o in shown), "the sequence plot was not drawn"


@pytest.mark.parametrize(("script", "expected"), [
    ("explore_run.py", ["<Run udp-echo", " ok", "sendto() #", "read frames ["]),
    ("http_by_hand.py", ["fetched ", "<Run capture-1", "connect() #"]),
])
def test_scripts_run(
    script: str, expected: list[str], tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("dumpcap")
    require_tool("curl")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for text in expected:
        assert text in proc.stdout
