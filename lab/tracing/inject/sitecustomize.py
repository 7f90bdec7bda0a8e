"""Entry point of the socket-call tracer for unmodified Python programs.

Python imports ``sitecustomize`` at startup from the first ``sys.path`` entry that has one. Putting this
directory first on ``PYTHONPATH`` therefore runs this file before the program's own code; with
``LAB_TRACE_DIR`` set it installs the tracer (``_labtrace``), and in every case it then runs the
``sitecustomize`` that would have been imported without us (Debian ships one), so the program sees the same
startup it would have had. Kept tiny on purpose: everything lives in ``_labtrace``.
"""

import importlib.machinery as _machinery
import importlib.util as _util
import os as _os
import sys as _sys


def _chain() -> None:
    """Import the next ``sitecustomize`` on sys.path (ours shadows it), under its usual name."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    rest = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = _machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = _util.module_from_spec(spec)
    _sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if _os.environ.get("LAB_TRACE_DIR"):
    try:
        import _labtrace

        _labtrace.install()
    except Exception as _err:  # a broken tracer must never break the traced program
        _sys.stderr.write(f"lab tracer: not installed: {_err!r}\n")

_chain()
