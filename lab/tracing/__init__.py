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

Records beyond one-call-one-record (the schema is calls.jsonl in the project notes):

- ``call`` is the Python method name (tracer) or the syscall name (strace). makefile() I/O appears as the
  ``recv_into``/``send`` it does, with ``args.via = "makefile"``.
- ``close`` with ``args.deferred``: close() while a makefile() file holds the socket (nothing happens in
  the kernel); the real close follows with ``args.via = "makefile"``. ``args.via = "gc"``: the socket was
  garbage-collected without close(). ``args.already_closed``: close() of a closed socket (no socket id).
  ``args.last_ref = False``: another fd (dup, fork) still holds the socket, so no FIN yet.
- ``exit``: the socket was still open when the process ended (strace: the process exited or was killed,
  ``args.status``/``args.signal``; Python: at interpreter exit). The kernel closes it then.
- Duplicated fds (dup, fromfd, fork) share the socket's id and byte offsets; ``fd`` says which fd was used.
- ``error`` is the errno name, or the exception class when the exception has no errno (a Python timeout).
"""

from lab.tracing.merge import load_calls, merge_traces
from lab.tracing.wrap import INJECT_DIR, is_python_command, wrap_command

__all__ = ["INJECT_DIR", "is_python_command", "load_calls", "merge_traces", "wrap_command"]
