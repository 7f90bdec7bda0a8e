"""A lab's own checks and answer functions: a Python module next to the teacher's lab file.

A lab file may name one module (``functions: my_checks.py``, relative to the lab file). The module
registers functions by name in two mappings, with the built-ins' signature ``fn(packets, calls, **params)``::

    # my_checks.py, next to my-lab.yaml
    from lab.labs import evidence as ev

    def window_of_syn(packets, calls, port=None):
        \"\"\"The TCP window the client's first SYN advertised.\"\"\"
        syn = ev.first(packets, lambda p: ev.is_syn(p) and (port is None or ev.tcp(p)["dport"] == port))
        return int(syn["tcp"]["win"]) if syn else None

    def at_least_one_syn(packets, calls):
        n = sum(1 for p in packets if ev.is_syn(p))
        return n >= 1, f"{n} SYN(s)"

    ANSWERS = {"window_of_syn": window_of_syn}
    CHECKS = {"at_least_one_syn": at_least_one_syn}

A module's name may not shadow a built-in. The module is code, so it is loaded only from a lab file the
caller trusts: the teacher's own file (``lab check --lab``, ``lab grade --lab``, ``lab run FILE``), never
from a run directory or a student's bundle, whose copy of the lab file is data only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import UsageError
from lab.labs.checks import CHECKS
from lab.labs.questions import QUESTIONS

Fn = Callable[..., Any]
MAX_MODULE_BYTES = 1 << 20


@dataclass(frozen=True)
class Functions:
    """The checks and answer functions a lab file may name: the built-ins and its own module's."""

    checks: Mapping[str, Fn] = field(default_factory=lambda: dict(CHECKS))
    answers: Mapping[str, Fn] = field(default_factory=lambda: dict(QUESTIONS))


BUILTIN = Functions()


def load_functions(module: Path | None, where: str = "") -> Functions:
    """The built-ins plus the ``CHECKS`` and ``ANSWERS`` of ``module`` (a .py file), if one is given.

    Raises:
        UsageError: the module is missing, does not import, or registers something that is not a function.
    """
    if module is None:
        return BUILTIN
    at = f"{where}: functions module {module}" if where else f"module {module}"
    if module.suffix != ".py" or not module.is_file():
        raise UsageError(f"{at}: not found (a .py file next to the lab file)")
    if module.stat().st_size > MAX_MODULE_BYTES:
        raise UsageError(f"{at}: larger than {MAX_MODULE_BYTES} bytes")
    spec = importlib.util.spec_from_file_location(f"_lab_functions_{abs(hash(str(module)))}", module)
    if spec is None or spec.loader is None:
        raise UsageError(f"{at}: cannot be loaded")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as err:  # noqa: BLE001 - a teacher's module may fail any way; say how, in one line
        raise UsageError(f"{at}: failed to import: {type(err).__name__}: {err}") from None
    checks = _table(getattr(mod, "CHECKS", {}), "CHECKS", at, CHECKS)
    answers = _table(getattr(mod, "ANSWERS", {}), "ANSWERS", at, QUESTIONS)
    if not checks and not answers:
        raise UsageError(f"{at}: registers nothing (define CHECKS and/or ANSWERS: name -> function)")
    return Functions({**CHECKS, **checks}, {**QUESTIONS, **answers})


def _table(raw: Any, name: str, at: str, builtin: Mapping[str, Fn]) -> dict[str, Fn]:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{at}: {name} must be a mapping of name -> function")
    for key, fn in raw.items():
        if not isinstance(key, str) or not callable(fn):
            raise UsageError(f"{at}: {name}[{key!r}] must map a name to a function")
        if key in builtin:
            raise UsageError(f"{at}: {name}[{key!r}] shadows the built-in of that name; choose another name")
    return dict(raw)
