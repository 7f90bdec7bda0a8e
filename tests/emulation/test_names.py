"""Names are validated in full: a trailing newline, a NUL, a slash or one character too many is refused."""

from __future__ import annotations

import pytest

from lab.emulation.names import check_ifname, check_run_id
from lab.errors import UsageError
from lab.tracing.wrap import check_node

BAD_RUN_IDS = ["ab\n", "ab\0", "a/b", "a" * 13, "", "AB", "a b", "ab\r\n"]
BAD_IFNAMES = ["eth0\n", "eth\x000", "a/b", "x" * 16, "", "a.b"]


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_bad_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(UsageError, match="run id"):
        check_run_id(run_id)


@pytest.mark.parametrize("name", BAD_IFNAMES)
def test_bad_interface_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="interface name"):
        check_ifname(name)


def test_good_names_pass() -> None:
    assert check_run_id("a" * 12) == "a" * 12 and check_ifname("h1-eth0") == "h1-eth0"


@pytest.mark.parametrize("node", ["h1\n", "h1\0", "h/1"])
def test_tracer_refuses_bad_node_names(node: str) -> None:
    with pytest.raises(UsageError, match="bad node name"):
        check_node(node)
