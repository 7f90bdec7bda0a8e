"""Coursework for a whole class: runs a student cannot quietly edit, graded in bulk against the teacher's key.

Division of labour:

- ``manifest``: what a run leaves as evidence (its files' SHA-256, who ran it, which lab file) and the
  checks that find a changed file;
- ``evidence``: the key recomputed from the raw evidence only (the capture and the call logs), and the
  consistency of the two (bytes the calls sent against bytes on the wire);
- ``matching``: the one table of what counts as a right answer per answer type, hedges refused;
- ``hints``: feedback that teaches without giving the key away;
- ``bundle``: ``lab submit`` writes a tar.gz; unpacking one treats it as hostile input;
- ``batch``: ``lab grade`` over a folder of bundles (CSV, JSON, one feedback file per student);
- ``pytest_plugin``: the same grading as a teacher's pytest suite.

The key never leaves the teacher's side: a run's own outputs hold questions, never answers.
"""
