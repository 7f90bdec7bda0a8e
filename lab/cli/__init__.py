"""Thin verbs: each module parses flags and calls the library; ``main`` maps errors to exit codes.

Each verb module exposes ``COMMANDS``, a list of click commands; ``main`` adds them to the ``lab`` group.
Conventions every verb follows: ``--out DIR`` for outputs (default ``captures/<name>-<UTC stamp>/``),
``--json`` for machine-readable output on stdout, exit 0 on success and a one-line message otherwise.
"""
