"""The ``root`` step key: a step runs as root only when the lab file says so, and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.errors import UsageError
from lab.labs.spec import load_lab

LAB = {
    "name": "mine",
    "topology": "two-hosts",
    "steps": [
        {"name": "firewall", "node": "h2", "run": ["nft", "list", "ruleset"], "root": "nft: NET_ADMIN"},
        {"name": "sniff", "node": "h1", "run": ["true"], "root": True},
        {"name": "client", "node": "h1", "run": ["true"]},
    ],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_root_is_declared_per_step_with_its_reason(tmp_path: Path) -> None:
    spec = load_lab(write(tmp_path, LAB))
    firewall, sniff, client = spec.steps
    assert firewall.root and firewall.root_reason == "nft: NET_ADMIN"
    assert sniff.root and sniff.root_reason == ""
    assert not client.root and client.root_reason == ""
    assert spec.root_steps == (firewall, sniff)


def test_catalogue_root_steps_are_the_ones_that_change_the_kernel() -> None:
    spec = load_lab("timeouts")
    assert [(s.name, s.run[0]) for s in spec.root_steps] == [("firewall", "nft"), ("backoff", "sysctl")]
    assert all(s.root_reason for s in spec.root_steps)
    assert not load_lab("tcp-echo").root_steps


@pytest.mark.parametrize("value", ["   ", "", "two\nlines", 1, ["x"], "x" * 201])
def test_root_takes_a_boolean_or_one_line_of_reason(tmp_path: Path, value: object) -> None:
    data = yaml.safe_load(yaml.safe_dump(LAB))
    data["steps"][2]["root"] = value
    path = write(tmp_path, data)
    with pytest.raises(UsageError) as err:
        load_lab(path)
    text = str(err.value)
    assert err.value.key == "steps.3.root" and err.value.file == str(path) and err.value.line is not None
    assert text.startswith(f"{path}:{err.value.line}: steps.3.root: must be true, false, or the reason"), text
    assert "\n" not in text
