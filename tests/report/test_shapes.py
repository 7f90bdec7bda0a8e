"""The renderers' record check: derived from lab.records, in step with the shipped JSON Schema.

Every record of a real analysis passes; every damage the check is for (a required key gone, null where
the schema allows none, a string for an integer or for a block) is refused by the fast test and named by
``problem``, exactly where the JSON Schema refuses it too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.analysis.pipeline import analyze_capture
from lab.records import CallRecord, PacketRecord
from lab.report.shapes import Check
from tests.helpers.builders import call
from tests.helpers.records import validator

PACKET = Check(PacketRecord)


@pytest.fixture(scope="module")
def packets(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("shapes")
    records = []
    for name in ("zeek__smtp.pcap", "zeek__ipv6-fragmented-dns.pcap", "pcapplusplus__ip4_fragments.pcap"):
        analyze_capture(corpus_dir / "pcaps" / name, out / name, progress=False)
        records += [json.loads(x) for x in (out / name / "packets.jsonl").read_text().splitlines()]
    return records


def _damages(rec: dict[str, Any], at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, how) of every damage to try: each key removed, nulled, made a string."""
    for key, value in rec.items():
        path = (*at, key)
        yield path, "remove"
        yield path, "null"
        if not isinstance(value, str):
            yield path, "string"
        if isinstance(value, dict):
            yield from _damages(value, path)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from _damages(value[0], (*path, 0))


def _damaged(rec: dict[str, Any], path: tuple[Any, ...], how: str) -> dict[str, Any]:
    out = copy.deepcopy(rec)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if how == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = None if how == "null" else "x"
    return out


def test_real_records_pass(packets: list[dict[str, Any]]) -> None:
    assert len(packets) > 100
    assert all(PACKET.ok(p) for p in packets)
    assert all(PACKET.problem(p) is None for p in packets)


@pytest.mark.parametrize("kind", ["packet", "call"])
def test_the_check_refuses_what_the_schema_refuses(kind: str, packets: list[dict[str, Any]]) -> None:
    """Each damage the check covers is refused by it wherever the schema refuses it; a damage the check
    lets through is one the JSON Schema lets through too, or a string where a string-typed leaf or an
    open block was (text, drawn as text: the check's documented limit)."""
    check = PACKET if kind == "packet" else Check(CallRecord)
    schema = validator(kind)
    samples = ([next(p for p in packets if p["tcp"] and p["cause"].get("calls") is not None),
                next(p for p in packets if p["ip"] and p["ip"]["frag"]),
                next(p for p in packets if p["udp"])] if kind == "packet" else
               [call("recvfrom", t_start_ns=1, t_end_ns=2, sock="100:3:1", ret=0,
                     dgram={"peer": ["198.18.0.2", 53], "len": 40, "sha1": None})])
    tried = refused = 0
    for rec in samples:
        for path, how in _damages(rec):
            bad = _damaged(rec, path, how)
            tried += 1
            schema_says = next(iter(schema.iter_errors(bad)), None)
            found = check.problem(bad)
            assert check.ok(bad) == (found is None), (path, how)  # the fast test and the walk agree
            if found is not None:
                refused += 1
                assert schema_says is not None, (path, how, found)  # never stricter than the schema
                assert found.key.split(".")[-1] == str(path[-1]) or str(path[-1]) in found.text, (path, found)
            elif schema_says is not None:  # the schema refuses, the check lets it through: a text leaf
                assert how != "remove" and _text_leaf(check, path), (path, how, schema_says.message)
    assert tried > 50 and refused > 20


def _text_leaf(check: Check, path: tuple[Any, ...]) -> bool:
    """Whether the key at ``path`` is one the check leaves to the renderers (neither an integer nor a block:
    a string, a boolean, an open value), under blocks it checks or inside an open one."""
    shape = check.shape
    for key in path[:-1]:
        if isinstance(key, int):  # an item of a list of blocks: the same shape
            continue
        blocks = {k: sub for k, sub, _, _ in shape.blocks}
        if key not in blocks:
            return True  # inside an open block (dict[str, Any]): not checked at all
        shape = blocks[key]
    return path[-1] not in dict(shape.ints) and path[-1] not in {k for k, _, _, _ in shape.blocks}


def test_an_integer_beyond_64_bits_is_the_schema_integer_it_was() -> None:
    """orjson reads an integer beyond 64 bits (a pcap's bogus time in ns) as a float: still an integer."""
    import orjson

    rec = json.loads(json.dumps(call("send", t_start_ns=1, t_end_ns=2, sock="100:3:1", ret=0)))
    rec["t_start_ns"] = 18446744073204126329000
    parsed = orjson.loads(json.dumps(rec))
    assert isinstance(parsed["t_start_ns"], float)
    calls = Check(CallRecord)
    assert not calls.ok(parsed) and calls.problem(parsed) is None
    parsed["t_start_ns"] = 1.5
    assert str(calls.problem(parsed)) == "t_start_ns: a number with a fraction, not an integer"
