"""Helpers shared by test modules: a test module imports only from here (or asks conftest.py for a fixture),
never from another test module, so that each ``test_*.py`` file can be read, moved or deleted alone.

One module per concern, public names only, each module's docstring saying what it is for:

- ``records``: the schema check (one validator per record kind), and reading a run's JSONL outputs with it;
- ``builders``: complete packet and call records and their headers, checked against the schema as built;
- ``labrecords``: the labs' synthetic runs (numbered captures, echo and routed runs) for checks and questions;
- ``attribution``: packets as the attribution gets them (no cause yet) and an attributor that checks records;
- ``renderrecords``: complete packet, call and report records for the renderers' tests (ladder, page);
- ``corpus``: where the public corpus is, and comparing an analysis output with its tshark truth;
- ``frames``: pcap and pcapng files and Ethernet/IPv4 frames built byte by byte;
- ``analysis``: analyzing one capture through both analysis paths and checking they agree;
- ``fuzzing``: seeded mutations of capture files;
- ``tracing``: running a program under the Python tracer and the invariants every trace keeps;
- ``emulation``: unique run ids and a real echo exchange between two nodes of a live network;
- ``processes``: whether a process still runs (zombies do not), for the "nothing left behind" checks;
- ``ports``: a free local port chosen by the kernel, for a test's own server;
- ``submissions``: student submissions (bundles) made from recorded runs, honest and hostile;
- ``answerkey``: what a student can read of a run, and the assertion that none of it holds the key;
- ``labfiles``: a minimal valid lab file to mutate;
- ``yamlbombs``: hostile YAML (alias bombs) for the loaders;
- ``yamlkeys``: where a key is in YAML text, found independently of the loader (expected error lines).

How ``import tests.helpers`` resolves, with no ``sys.path`` or ``pythonpath`` setting: pytest runs with
``--import-mode=importlib`` (pyproject.toml) and its rootdir is the repository root (where pyproject.toml
is). ``tests/`` has no ``__init__.py``, so pytest names every test module after its path from the rootdir
(``tests/analysis/test_apps.py`` is ``tests.analysis.test_apps``) and, importing it, registers the missing
parents ``tests`` and ``tests.analysis`` in ``sys.modules`` as namespace packages whose ``__path__`` is their
directory; the first of them is made when the root ``tests/conftest.py`` is imported (as ``tests.conftest``),
before any test module. An ``import tests.helpers.frames`` inside a test module then is an ordinary import:
``tests`` is found in ``sys.modules`` and ``helpers`` (a regular package, this file) in its ``__path__``.
No directory under ``tests/`` other than this one has an ``__init__.py``: one would make pytest name the
modules below it from that directory (``classroom.test_batch``) instead of from the rootdir.
tests/test_suite_layout.py checks that no test module imports another one, and that this list names every
module here.
"""
