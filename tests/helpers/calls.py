"""Complete calls.jsonl records for unit tests of their readers.

A reader of call records reads the schema's required keys directly (``call["error"]``), so a fixture
that leaves keys out tests a record no writer produces. ``call_record`` starts from a whole record of a
Python-traced TCP socket call and checks the result against the shipped schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import jsonschema

from lab.records import SCHEMA_VERSION, shipped_schema

if TYPE_CHECKING:
    from lab.records import CallRecord

_CALL_SCHEMA = jsonschema.Draft202012Validator(shipped_schema("call"))


def call_record(name: str, **fields: Any) -> CallRecord:
    """One call named ``name`` (id 1, fd 3 of a SOCK_STREAM socket, 1 ms long), ``fields`` replacing the
    defaults; raises ``jsonschema.ValidationError`` when the result is not a valid record."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "id": 1, "tracer": "python", "node": "h1", "pid": 100, "tid": 100,
        "sock": "1:3:1", "fd": 3, "call": name, "args": {}, "ret": None, "error": None, "exception": None,
        "t_start_ns": 0, "t_end_ns": 1_000_000, "family": "AF_INET", "type": "SOCK_STREAM", "local": None,
        "peer": None, "nbytes": None, "sent_before": None, "sent_after": None, "recv_before": None,
        "recv_after": None, "dgram": None,
    }
    out.update(fields)
    _CALL_SCHEMA.validate(out)
    return cast("CallRecord", out)
