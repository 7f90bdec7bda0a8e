"""Lab specs: a lab is a YAML file, loaded into frozen data that the runner walks.

Division of labour: this module reads and validates a lab file (``lab/labs/<name>.yaml`` or a user's own
path) into ``LabSpec``; ``lab.runner`` realizes the topology and runs the steps; ``lab.labs.evaluate``
checks the expected observations and computes the answers afterwards. A spec carries no Python objects
beyond names: checks and questions are looked up by name in ``lab.labs.checks.CHECKS`` and
``lab.labs.questions.QUESTIONS``, so a bad name fails at load time, before anything is built.

Format (every key but ``name``, ``topology`` and ``steps`` is optional)::

    name: tcp-echo
    title: "TCP echo: the 12-step socket flow"
    summary: one line for `lab labs`
    topology: two-hosts          # a shipped topology name, or a path relative to the lab file
    loopback: true               # the lab can also run on a loopback topology without root
    steps:
      - {name: server, node: h2, run: [python3, "{programs}/tcp_echo_server.py"], background: true,
         ready: {tcp: 5012}}
      - {name: client, node: h1, run: [...], timeout: 20, expect_exit: 0, trace: true}
      - {name: firewall, node: h2, run: [nft, ...], root: "nft changes the node's firewall"}
      - {wait: server, timeout: 10}
    observations: [{check: handshake_before_accept}, {check: role_count, role: syn, count: 1}]
    questions: [{id: syn-seq, text: "...", answer: syn_seq_raw}]   # extra keys: parameters
    concept: |
      markdown coursework text

Every mistake is one ``UsageError`` with the file, the line and the key of the value at fault
(``steps.2.node``, ``steps.2.run.3``, ``questions.1.answer_type``; list items counted from 1): the checks
below raise with the key, and ``parse_lab`` looks its line up in what the parsed YAML remembers.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import shutil
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import LabError, UsageError
from lab.paths import RunPaths
from lab.topology import Topology, load_topology
from lab.topology.limits import NAME_RE as NODE_NAME_RE
from lab.yamlfile import YamlFileError, key_lines, line_for, line_of, read_yaml_file

LABS_DIR = Path(__file__).resolve().parent
PROGRAMS_DIR = LABS_DIR / "programs"

# The catalogue, in teaching order: the socket flow first, then the network, then applications.
CATALOGUE: tuple[str, ...] = (
    "tcp-echo",
    "udp-echo",
    "connect-refused",
    "backlog",
    "nonblocking",
    "timeouts",
    "send-vs-sendall",
    "shutdown-vs-close",
    "addresses",
    "handshake-by-hand",
    "ipv6",
    "routed",
    "mtu",
    "lossy-link",
    "icmp",
    "igmp",
    "ospf",
    "eigrp",
    "ppp",
    "http",
    "dns",
    "tftp",
    "snmp",
    "ftp",
    "telnet",
    "smtp",
)

TOP_KEYS = {
    "name",
    "title",
    "summary",
    "topology",
    "loopback",
    "steps",
    "observations",
    "questions",
    "concept",
    "functions",
}
RUN_STEP_KEYS = {"name", "node", "run", "background", "ready", "timeout", "expect_exit", "trace", "root"}
WAIT_STEP_KEYS = {"wait", "timeout"}
QUESTION_KEYS = {"id", "text", "answer", "hint", "mistakes", "answer_type"}
MANUAL = "manual"  # ``answer: manual``: a free-text question collected for the teacher, never auto-marked
PLACEHOLDERS = {"programs", "python", "ip", "ip6", "out", "labdir", "netns"}
NODE_PLACEHOLDERS = {"ip", "ip6", "netns"}
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 86_400.0  # a day: longer is a typo, and an infinite or NaN timeout never fires
# A lab's name becomes its run directory's name under captures/: no separators, no dots, no newline
# (always used with fullmatch). Step names and question ids follow the same rule.
LAB_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_ARGV = 1024
MAX_ARG_BYTES = 64 << 10


@dataclass(frozen=True)
class Ready:
    """Readiness of a background step: a socket of ``proto`` ("tcp"/"udp") bound to ``port`` on the node."""

    proto: str
    port: int


@dataclass(frozen=True)
class Step:
    """One step, run in order. A *run* step has ``node`` and ``run``; a *wait* step has ``wait`` only.

    ``expect_exit`` None means any exit status is accepted; ``timeout`` is in seconds. A run step runs as
    the unprivileged lab user unless it declares ``root`` (the lab file's ``root: true`` or ``root: "why"``):
    ``root_reason`` is then the reason given ("" when only ``true`` was written).
    """

    name: str
    node: str | None = None
    run: tuple[str, ...] = ()
    background: bool = False
    ready: Ready | None = None
    timeout: float = DEFAULT_TIMEOUT
    expect_exit: int | None = 0
    trace: bool = True
    wait: str | None = None
    root: bool = False
    root_reason: str = ""

    @property
    def is_wait(self) -> bool:
        return self.wait is not None


@dataclass(frozen=True)
class Check:
    """An expected observation: the function ``CHECKS[name]`` called with ``params``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    """A question whose answer ``QUESTIONS[answer](packets, calls, **params)`` computes from the capture."""

    id: str
    text: str
    answer: str
    params: Mapping[str, Any] = field(default_factory=dict)
    hint: str = ""  # the teacher's hint, shown with any wrong answer (never the answer itself)
    mistakes: tuple[tuple[Any, str], ...] = ()  # (a common wrong answer, what to say to it)
    type: str | None = None  # answer type for matching (lab.classroom.matching.TYPES); default: inferred

    @property
    def manual(self) -> bool:
        return self.answer == MANUAL


@dataclass(frozen=True)
class LabSpec:
    name: str
    source: Path
    topology: str
    topology_ref: str | Path
    steps: tuple[Step, ...]
    title: str = ""
    summary: str = ""
    loopback: bool = False
    observations: tuple[Check, ...] = ()
    questions: tuple[Question, ...] = ()
    concept: str = ""
    functions: Path | None = None  # the lab's own checks/answers module (lab.labs.extensions)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)  # key -> line

    def error(self, problem: str, key: str) -> UsageError:
        """A problem with the value at ``key`` (``steps.2.run``) of this lab file, with its line."""
        return UsageError(problem, file=str(self.source), key=key, line=line_for(dict(self.lines), key))

    @property
    def labdir(self) -> Path:
        """The directory of the lab file: ``{labdir}`` in argv, and the base of a relative topology."""
        return self.source.parent

    @property
    def nodes_used(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.node for s in self.steps if s.node))

    @property
    def root_steps(self) -> tuple[Step, ...]:
        """The steps that declared ``root``: every other program runs as the unprivileged lab user."""
        return tuple(s for s in self.steps if s.root)


def lab_path(name_or_path: str | Path) -> Path:
    """The file of a lab: a catalogue name (``tcp-echo``) or a path to a YAML file."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or Path(text).exists():
        path = Path(text).expanduser()
        if path.is_dir():
            run_dir = RunPaths(path).report.is_file()
            hint = " (a run's output directory? grade it with `lab check DIR ANSWERS`)" if run_dir else ""
            raise UsageError(f"{text} is a directory, not a lab file{hint}")
        if not path.exists():
            raise UsageError(f"lab file not found: {text}")
        return path.resolve()  # a FIFO or a device: refused when read (lab.yamlfile says which)
    path = LABS_DIR / f"{text}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown lab '{text}'; `lab labs` lists the catalogue (or pass a lab file path)")
    return path


def load_lab(name_or_path: str | Path, *, check_topology: bool = True) -> LabSpec:
    """Load and validate a lab by catalogue name or path.

    ``check_topology=False`` skips resolving the topology (grading a run from the copy of its lab file,
    which no longer sits next to its lab-specific topology).

    Raises:
        UsageError: the file is missing or invalid; its ``file``, ``line`` and ``key`` say where.
    """
    path = lab_path(name_or_path)
    try:  # no alias bombs, no deep nesting, a size limit (lab.yamlfile)
        raw = read_yaml_file(path)
    except YamlFileError as err:
        raise UsageError(err.problem, file=err.source, line=err.line) from None
    return parse_lab(raw, path, check_topology=check_topology)


def list_labs() -> list[LabSpec]:
    """The catalogue in teaching order."""
    return [load_lab(name) for name in CATALOGUE]


def parse_lab(raw: Any, source: Path, *, check_topology: bool = True) -> LabSpec:
    """Validate the parsed YAML of a lab file; every error names ``source``, the key (``steps.2.node``;
    list items counted from 1) and the line the YAML gives for it."""
    lines = key_lines(raw)
    try:
        return _parse_lab(raw, source, lines, check_topology)
    except UsageError as err:
        document = line_of(raw) or 1
        raise err.locate(file=str(source), lines=lambda key: line_for(lines, key, document)) from None


def _parse_lab(raw: Any, source: Path, lines: dict[str, int], check_topology: bool) -> LabSpec:
    if not isinstance(raw, dict):
        raise UsageError("a lab file is a mapping (name, topology, steps, ...)", key="")
    _no_unknown(raw, TOP_KEYS, "", "lab")
    for key in ("name", "topology", "steps"):
        if key not in raw:
            raise UsageError(f"missing required key '{key}'", key=key)
    name = _name(raw["name"], "name")
    topology = _str(raw["topology"], "topology")
    loopback = _bool(raw.get("loopback", False), "loopback")
    topo = None
    if check_topology:
        topology_ref = resolve_topology_ref(topology, source)
        topo = _load_topology(topology_ref)
        nodes: set[str] | None = {n.name for n in topo.nodes}
    else:
        topology_ref, nodes = topology, None
    steps = _steps(raw["steps"], nodes)
    if loopback:
        _check_loopback_variant(topo, steps)
    functions = _functions(raw.get("functions"), source, trusted=check_topology)
    observations = tuple(
        _check(i, c, functions) for i, c in enumerate(_list(raw.get("observations"), "observations"), 1)
    )
    questions = _questions(_list(raw.get("questions"), "questions"), functions)
    return LabSpec(
        name=name,
        source=source,
        topology=topology,
        topology_ref=topology_ref,
        steps=steps,
        title=_str(raw.get("title", name), "title"),
        summary=_opt_str(raw.get("summary"), "summary"),
        loopback=loopback,
        observations=observations,
        questions=questions,
        concept=_opt_str(raw.get("concept"), "concept"),
        # only a trusted file's module is ever loaded: a run's copy keeps the name out of reach
        functions=source.parent / raw["functions"] if raw.get("functions") and check_topology else None,
        lines=lines,
    )


def check_programs(spec: LabSpec) -> None:
    """Raise UsageError naming the first step whose program is not on this machine.

    Called before a run creates anything (``lab run`` preflight): a missing ``dig`` or a misspelt script
    would otherwise surface as "exited 1" after the network, the capture and the outputs exist. Checks
    argv[0] (on PATH, or an executable path) and, for ``python3 SCRIPT``, the script file; arguments with
    placeholders other than ``{programs}``/``{labdir}`` are left to the run.
    """
    known = {"programs": str(PROGRAMS_DIR), "labdir": str(spec.labdir)}
    for i, step in enumerate(spec.steps, 1):
        if not step.run:
            continue
        prog = step.run[0]
        is_python = Path(prog).name.startswith("python") or prog == "{python}"
        if "{" not in prog and not is_python and (os.sep not in prog or os.path.isabs(prog)):
            found = os.access(prog, os.X_OK) if os.sep in prog else shutil.which(prog) is not None
            if not found:
                raise spec.error(f"program '{prog}' not found on this machine (install it, or give its path)",
                                 f"steps.{i}.run.1")
        if is_python and len(step.run) > 1 and not step.run[1].startswith("-"):
            try:
                script = step.run[1].format_map(known)
            except (KeyError, IndexError, ValueError):
                continue
            if not Path(script).is_file():
                raise spec.error(f"script not found: {script}", f"steps.{i}.run.2")


def resolve_topology_ref(topology: str, source: Path) -> str | Path:
    """A shipped topology name stays a name; a path (has a '/' or a YAML suffix) is made absolute."""
    if "/" in topology or topology.endswith((".yaml", ".yml", ".json", ".graphml", ".gml")):
        path = (source.parent / topology).resolve()
        if not path.is_file():
            raise UsageError(f"topology file not found: {topology} (relative to the lab file)",
                             file=str(source), key="topology")
        return path
    return topology


def _load_topology(ref: str | Path) -> Topology:
    """The lab's topology: steps and ``{ip[NODE]}`` placeholders are checked against its nodes. Its own
    error (file, line, key of the topology file) is the problem of the lab file's ``topology``."""
    try:
        return load_topology(ref)
    except LabError as err:
        raise UsageError(str(err), key="topology") from None


def _check_loopback_variant(topo: Topology | None, steps: tuple[Step, ...]) -> None:
    """``loopback: true`` promises ``lab run --loopback`` works: no namespaces needed, no per-host IPv6."""
    fix = "drop 'loopback: true', or use a topology without them"
    if topo is not None:
        routers = [n.name for n in topo.nodes if n.kind == "router"]
        if routers:
            raise UsageError(f"true, but topology '{topo.name}' has routers ({routers[0]}), which need "
                             f"namespaces; {fix}", key="loopback")
        shaped = [li for li in topo.links if not li.conditions.empty or li.mtu is not None]
        if shaped:
            raise UsageError(f"true, but link {shaped[0].index} ({shaped[0].a} -- {shaped[0].b}) of topology "
                             f"'{topo.name}' has link conditions/mtu, which need namespaces; {fix}",
                             key="loopback")
    for i, step in enumerate(steps, 1):
        for k, arg in enumerate(step.run, 1):
            if "{ip6[" in arg:
                raise UsageError("'loopback: true' but it uses {ip6[...]}: a loopback run has no per-host "
                                 "IPv6 address", key=f"steps.{i}.run.{k}")


# -- steps -------------------------------------------------------------------------------------------
def _steps(raw: Any, nodes: set[str] | None) -> tuple[Step, ...]:
    items = _list(raw, "steps")
    if not items:
        raise UsageError("empty; a lab runs at least one program", key="steps")
    steps: list[Step] = []
    seen: dict[str, Step] = {}
    for i, item in enumerate(items, 1):
        key = f"steps.{i}"
        if not isinstance(item, dict):
            raise UsageError("a step is a mapping (name/node/run or wait)", key=key)
        step = _wait_step(item, key, seen) if "wait" in item else _run_step(item, key, nodes)
        if step.name in seen:
            if step.is_wait:
                raise UsageError(f"already waited for '{step.wait}'", key=f"{key}.wait")
            raise UsageError(f"duplicate step name '{step.name}'", key=f"{key}.name")
        seen[step.name] = step
        steps.append(step)
    return tuple(steps)


def _run_step(item: dict, key: str, nodes: set[str] | None) -> Step:
    _no_unknown(item, RUN_STEP_KEYS, key, "step")
    name = item.get("name")
    if name is None:
        raise UsageError("missing 'name'", key=key)
    name = _name(name, f"{key}.name")
    if "node" not in item:
        raise UsageError("missing 'node' (the node whose namespace runs the program)", key=key)
    node = _str(item["node"], f"{key}.node")
    if not NODE_NAME_RE.fullmatch(node):
        raise UsageError(f"{node!r} is not a node name (letters, digits, '_' and '-')", key=f"{key}.node")
    if nodes is not None and node not in nodes:
        raise UsageError(f"node '{node}' is not in the topology (nodes: {', '.join(sorted(nodes))})",
                         key=f"{key}.node")
    run = item.get("run")
    if (not isinstance(run, list) or not run
            or not all(isinstance(a, str | int | float) and not isinstance(a, bool) for a in run)):
        raise UsageError("must be a non-empty argv list of strings", key=f"{key}.run")
    if len(run) > MAX_ARGV:
        raise UsageError(f"{len(run)} arguments, more than the limit of {MAX_ARGV}", key=f"{key}.run")
    argv = tuple(str(a) for a in run)
    for k, arg in enumerate(argv, 1):
        if "\0" in arg:  # execve() cuts an argument at a NUL: what ran would not be what the file says
            raise UsageError(f"argument {k} contains a NUL character", key=f"{key}.run.{k}")
        if len(arg.encode("utf-8", "surrogatepass")) > MAX_ARG_BYTES:
            raise UsageError(f"argument {k} is longer than {MAX_ARG_BYTES} bytes", key=f"{key}.run.{k}")
        _check_placeholders(arg, f"{key}.run.{k}", nodes)
    background = _bool(item.get("background", False), f"{key}.background")
    ready = _ready(item.get("ready"), f"{key}.ready") if "ready" in item else None
    if ready is not None and not background:
        raise UsageError("only applies to a background step (background: true)", key=f"{key}.ready")
    expect = item.get("expect_exit", 0)
    if expect is not None and (not isinstance(expect, int) or isinstance(expect, bool)
                               or not -64 <= expect <= 255):
        raise UsageError("must be an integer or null: an exit status 0..255 (negative: killed by that "
                         "signal)", key=f"{key}.expect_exit")
    return Step(
        name=name,
        node=node,
        run=argv,
        background=background,
        ready=ready,
        timeout=_timeout(item.get("timeout", DEFAULT_TIMEOUT), f"{key}.timeout"),
        expect_exit=expect,
        trace=_bool(item.get("trace", True), f"{key}.trace"),
        **_root(item.get("root", False), f"{key}.root"),
    )


def _root(value: Any, key: str) -> dict[str, Any]:
    """``root: true`` or ``root: "the reason"`` (raw sockets, a routing daemon, a firewall change)."""
    if isinstance(value, bool):
        return {"root": value, "root_reason": ""}
    if isinstance(value, str) and value.strip() and "\n" not in value and len(value) <= 200:
        return {"root": True, "root_reason": value.strip()}
    raise UsageError("must be true, false, or the reason the step needs root as one line of text "
                     "(e.g. root: \"nft changes the node's firewall\")", key=key)


def _wait_step(item: dict, key: str, seen: dict[str, Step]) -> Step:
    _no_unknown(item, WAIT_STEP_KEYS, key, "wait step")
    target = _name(item["wait"], f"{key}.wait")
    if target not in seen:
        raise UsageError(f"wait for unknown step '{target}' (it must be an earlier step)", key=f"{key}.wait")
    if not seen[target].background:
        raise UsageError(f"wait for '{target}', which is not a background step", key=f"{key}.wait")
    return Step(
        name=f"wait:{target}", wait=target,
        timeout=_timeout(item.get("timeout", DEFAULT_TIMEOUT), f"{key}.timeout"),
    )


def _ready(raw: Any, key: str) -> Ready:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise UsageError("must be {tcp: PORT} or {udp: PORT}", key=key)
    ((proto, port),) = raw.items()
    if proto not in ("tcp", "udp"):
        raise UsageError(f"protocol must be tcp or udp, not '{proto}'", key=f"{key}.{proto}")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise UsageError(f"port must be an integer 1-65535, not {_shown(port)}", key=f"{key}.{proto}")
    return Ready(proto, port)


def _check_placeholders(arg: str, key: str, nodes: set[str] | None) -> None:
    """Reject unknown ``{placeholders}`` now, rather than as a KeyError in the middle of a run."""
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as err:
        raise UsageError(f"bad placeholder in '{arg}': {err}", key=key) from None
    for _text, fieldname, spec, conv in parsed:
        if fieldname is None:
            continue
        if spec or conv:  # "{labdir:>9999999999}" would build a 10 GB string; a name is all a lab needs
            raise UsageError(f"placeholder '{{{fieldname}{'!' + conv if conv else ''}"
                             f"{':' + spec if spec else ''}}}' has a conversion or format spec; only plain "
                             "{name} or {ip[NODE]} is substituted", key=key)
        base, _, rest = fieldname.partition("[")
        if base not in PLACEHOLDERS:
            known = ", ".join(
                "{" + p + ("[NODE]" if p in NODE_PLACEHOLDERS else "") + "}" for p in sorted(PLACEHOLDERS)
            )
            raise UsageError(f"unknown placeholder '{{{fieldname}}}' (known: {known})", key=key)
        if base in NODE_PLACEHOLDERS:
            node = rest[:-1]
            if not rest.endswith("]") or not NODE_NAME_RE.fullmatch(node):
                raise UsageError(f"'{{{fieldname}}}' needs a node: {{{base}[NODE]}}", key=key)
            if nodes is not None and node not in nodes:
                raise UsageError(f"'{{{fieldname}}}' names node '{node}', not in the topology", key=key)
        elif rest:
            raise UsageError(f"'{{{fieldname}}}' takes no index", key=key)


# -- observations and questions ----------------------------------------------------------------------
def _functions(value: Any, source: Path, *, trusted: bool) -> Any:
    """The functions a lab may name; its own module is imported only from a trusted lab file.

    An untrusted file (a run's copy: ``check_topology=False``) gets ``None``: names are then checked against
    the built-ins only where they can be, and its module is never executed.
    """
    from lab.labs.extensions import BUILTIN, load_functions

    if value is None:
        return BUILTIN
    name = _str(value, "functions")
    if "/" in name or "\\" in name or not name.endswith(".py"):
        raise UsageError(f"names a .py file in the lab file's directory, not {name!r}", key="functions")
    if not trusted:
        return None
    try:
        return load_functions(source.parent / name)
    except UsageError as err:
        raise UsageError(str(err), key="functions") from None


def _check(i: int, raw: Any, functions: Any) -> Check:
    key = f"observations.{i}"
    if not isinstance(raw, dict) or "check" not in raw:
        raise UsageError("an observation is a mapping with 'check: FUNCTION' and its parameters", key=key)
    name = _str(raw["check"], f"{key}.check")
    params = {k: v for k, v in raw.items() if k != "check"}
    if functions is not None:
        if name not in functions.checks:
            raise UsageError(f"unknown check '{name}'{did_you_mean(name, functions.checks)} "
                             "(`lab labs checks` lists them)", key=f"{key}.check")
        _bind(functions.checks[name], params, key)
    return Check(name, params)


def _questions(items: list, functions: Any) -> tuple[Question, ...]:
    out: list[Question] = []
    ids: set[str] = set()
    for i, raw in enumerate(items, 1):
        key = f"questions.{i}"
        if not isinstance(raw, dict):
            raise UsageError("a question is a mapping with id, text, answer", key=key)
        for required in ("id", "text", "answer"):
            if required not in raw:
                raise UsageError(f"missing '{required}'", key=key)
        qid = _name(raw["id"], f"{key}.id")
        if qid in ids:
            raise UsageError(f"duplicate question id '{qid}'", key=f"{key}.id")
        ids.add(qid)
        fn = _str(raw["answer"], f"{key}.answer")
        params = {k: v for k, v in raw.items() if k not in QUESTION_KEYS}
        if fn == MANUAL:
            if params:
                raise UsageError(f"question {qid}: a manual question takes no parameters "
                                 f"({', '.join(params)})", key=f"{key}.{next(iter(params))}")
        elif functions is not None:
            if fn not in functions.answers:
                raise UsageError(f"question {qid}: unknown answer function '{fn}'"
                                 f"{did_you_mean(fn, functions.answers)} (`lab labs checks` lists them)",
                                 key=f"{key}.answer")
            _bind(functions.answers[fn], params, key)
        out.append(Question(qid, _str(raw["text"], f"{key}.text"), fn, params, *_feedback(raw, key)))
    return tuple(out)


def _feedback(raw: dict, key: str) -> tuple[str, tuple[tuple[Any, str], ...], str | None]:
    """A question's ``hint`` (text), ``mistakes`` ({common wrong answer: what to say}) and ``type``."""
    from lab.classroom.matching import TYPES

    hint = _opt_str(raw.get("hint"), f"{key}.hint")
    mistakes = raw.get("mistakes")
    if mistakes is None:  # absent, or "mistakes:" with nothing under it
        mistakes = {}
    if not isinstance(mistakes, dict) or not all(isinstance(v, str) and v.strip() for v in mistakes.values()):
        raise UsageError("maps a common wrong answer to the hint for it", key=f"{key}.mistakes")
    kind = raw.get("answer_type")
    if kind is not None and kind not in TYPES:
        raise UsageError(f"unknown answer type {kind!r}{did_you_mean(str(kind), TYPES)} "
                         f"(one of: {', '.join(TYPES)})", key=f"{key}.answer_type")
    return hint, tuple(mistakes.items()), kind


def did_you_mean(name: str, known: Any) -> str:
    """``; did you mean 'x'?`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.6)
    if not close:
        close = [k for k in map(str, known) if k.lower() == name.lower()]
    return f"; did you mean '{close[0]}'?" if close else ""


def _bind(fn: Any, params: dict, key: str) -> None:
    """Fail now if ``params`` do not fit the function's keyword parameters (after packets, calls)."""
    names = list(inspect.signature(fn).parameters)[2:]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    unknown = [k for k in params if k not in names]
    if unknown and not takes_any:
        raise UsageError(f"unknown parameter '{unknown[0]}'{did_you_mean(unknown[0], names)} "
                         f"(takes: {', '.join(names) or 'no parameters'})",
                         key=f"{key}.{unknown[0]}")
    try:
        inspect.signature(fn).bind(None, None, **params)
    except TypeError as err:
        raise UsageError(f"{fn.__name__}: {err}", key=key) from None


# -- small validators: ``key`` is the dotted key of the value checked ----------------------------------
def _no_unknown(raw: dict, allowed: set[str], key: str, what: str) -> None:
    unknown = sorted(set(map(str, raw)) - allowed)
    if unknown:
        raise UsageError(f"unknown {what} key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})",
                         key=f"{key}.{unknown[0]}" if key else unknown[0])


def _name(value: Any, key: str) -> str:
    """A name that becomes part of a path or an id: ``LAB_NAME_RE``, in full (no '/', '..', newline)."""
    text = _str(value, key)
    if not LAB_NAME_RE.fullmatch(text):
        raise UsageError(f"{text!r} is not a name: 1-64 letters, digits, '_' and '-', starting with a letter "
                         "or digit (no '/', '.', spaces or newlines)", key=key)
    return text


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"must be a non-empty string, not {_shown(value)}", key=key)
    return value


def _opt_str(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"must be a string, not {_shown(value)}", key=key)
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"must be true or false, not {_shown(value)}", key=key)
    return value


def _list(value: Any, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"must be a list, not {_shown(value)}", key=key)
    return value


def _timeout(value: Any, key: str) -> float:
    # the range first: a huge integer compares fine but overflows a float; NaN fails every comparison
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT:
        raise UsageError(f"must be a positive number of seconds, finite and at most {MAX_TIMEOUT:g}, not "
                         f"{_shown(value)}", key=key)
    return float(value)


def _shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
