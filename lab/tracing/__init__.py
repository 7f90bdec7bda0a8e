"""Socket-call recording: every call a program makes, with times and byte offsets (calls.jsonl).

Two recorders, one schema:

- ``inject/`` holds a ``sitecustomize`` that patches the socket API inside unmodified Python programs
  (exact per-method records, byte offsets per call);
- ``strace`` runs any other program and ``strace.py`` turns its output into the same records.

``wrap_command`` picks the recorder from the command line; ``merge_traces`` merges the per-process logs of a
run into ``calls.jsonl``; ``load_calls`` reads one back.

    argv2, env_add = wrap_command(["python3", "client.py"], trace_dir, node="h1")
    ... run argv2 with env_add added to the environment ...
    records = merge_traces(trace_dir, run_dir / "calls.jsonl")
"""

from lab.tracing.merge import load_calls, merge_traces
from lab.tracing.wrap import INJECT_DIR, is_python_command, wrap_command

__all__ = ["INJECT_DIR", "is_python_command", "load_calls", "merge_traces", "wrap_command"]
